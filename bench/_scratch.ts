import { readFileSync } from 'node:fs';
import { startLocalServices } from '../local/services.ts';
import { benchContext, pool } from './support.ts';
import { documentClient } from '../storage/dynamodb-table.ts';
import { TransactWriteCommand, PutCommand, GetCommand, BatchWriteCommand } from '@aws-sdk/lib-dynamodb';

const cpu = (pid: number) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
const s = await startLocalServices();
const javaPid = Number(require_pid());
import { execSync } from "node:child_process"; function require_pid() { return execSync("pgrep -n -f '^java .*DynamoDBLocal'").toString().trim(); }
try {
  const c = await benchContext(s, 'x');
  const db = documentClient(c.ctx.dynamodb);
  const body = 'x'.repeat(1700);
  let k = 0;
  const run = async (label: string, n: number, conc: number, op: (i: number) => Promise<unknown>) => {
    const j0 = cpu(javaPid), n0 = process.cpuUsage();
    const t0 = performance.now();
    await pool(Array.from({ length: n }, (_, i) => i), conc, async (i) => { await op(i); });
    const ms = performance.now() - t0;
    const nu = process.cpuUsage(n0);
    console.log(`${label.padEnd(30)} conc ${String(conc).padStart(2)}: ${(n / (ms / 1000)).toFixed(0).padStart(5)} ops/s  wall ${(ms/1000).toFixed(2)} s  node cpu ${((nu.user + nu.system) / 1e6).toFixed(2)} s  java cpu ${(cpu(javaPid) - j0).toFixed(2)} s`);
  };
  const put = (i: number) => db.send(new PutCommand({ TableName: c.tableName, Item: { pk: `P#${k}#${i}`, sk: 'HEAD', body } }));
  const tx = (i: number) => db.send(new TransactWriteCommand({ TransactItems: [
    { Put: { TableName: c.tableName, Item: { pk: `T#${k}#${i}`, sk: 'HEAD', body, b2: body }, ConditionExpression: 'attribute_not_exists(pk)' } },
    { Put: { TableName: c.tableName, Item: { pk: `T#${k}#${i}`, sk: 'REV#1', body }, ConditionExpression: 'attribute_not_exists(pk)' } } ] }));
  const get = (i: number) => db.send(new GetCommand({ TableName: c.tableName, Key: { pk: `P#0#${i % 500}`, sk: 'HEAD' }, ConsistentRead: true }));
  await run('warm put', 1000, 16, put); k++;
  await run('warm tx', 1000, 16, tx); k++;
  for (const conc of [1, 4, 16, 32]) { await run('PutItem', 1000, conc, put); k++; }
  for (const conc of [1, 4, 16, 32]) { await run('TransactWrite 2 puts', 1000, conc, tx); k++; }
  for (const conc of [1, 4, 16, 32]) { await run('GetItem consistent', 1000, conc, get); k++; }
  await c.dispose();
} finally { await s.stop(); }
