// GET /openapi.json's document (functions/openapi.ts): valid OpenAPI 3.1 by a standard validator, every
// route of ROUTES in it, and its schemas the ones that really validate requests (checked by running
// both on the same inputs).
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../functions/openapi.ts';
import { ROUTES } from '../../functions/routes.ts';
import { ListRecordsQuery, ReviewDecision, ReviewsBody, SubmitBody } from '../../schemas/api.ts';
import { validateRecord } from '../../schemas/validate-record.ts';

type Json = any;

const doc: Json = openApiDocument({ version: '9.9.9', serverUrl: 'http://127.0.0.1:3000' });
const EXAMPLES: Json[] = readFileSync(new URL('../../examples/records.ndjson', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l));

function compile(schema: Json) {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats.default(ajv);
  return ajv.compile(schema);
}
const operation = (method: string, path: string): Json => doc.paths[path][method];
const jsonBodySchema = (method: string, path: string): Json => operation(method, path).requestBody.content['application/json'].schema;

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1 for @seriousme/openapi-schema-validator, which does refuse a broken one', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result, JSON.stringify(result.errors ?? null).slice(0, 2000)).toEqual({ valid: true });
    expect(validator.version).toBe('3.1');
    // The controls: the same document without its info.title, and with a path parameter made optional.
    const broken = structuredClone(doc);
    delete broken.info.title;
    expect((await new Validator().validate(broken)).valid).toBe(false);
    const optionalPath = structuredClone(doc);
    optionalPath.paths['/records/{kind}/{id}'].get.parameters[0].required = false;
    expect((await new Validator().validate(optionalPath)).valid).toBe(false);
  });

  it('describes every route of ROUTES, and nothing else, with its path parameters and its security', () => {
    const described = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops as object).map((m) => `${m.toUpperCase()} ${path}`));
    expect(described.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.resource}`).sort());
    for (const r of ROUTES) {
      const op = operation(r.method.toLowerCase(), r.resource);
      const inPath = [...r.resource.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]);
      expect((op.parameters ?? []).filter((p: Json) => p.in === 'path').map((p: Json) => p.name), r.resource).toEqual(inPath);
      expect(op.security, `${r.method} ${r.resource}`).toEqual(r.auth ? undefined : []);
      expect(Object.keys(op.responses)).toContain(String(r.response.status));
    }
    expect(doc.security).toEqual([{ apiKey: [] }]);
    expect(doc.info.version).toBe('9.9.9');
  });

  it('GET /records: one query parameter per field of ListRecordsQuery, none required', () => {
    const params = operation('get', '/records').parameters.filter((p: Json) => p.in === 'query');
    expect(params.map((p: Json) => p.name).sort()).toEqual(Object.keys(ListRecordsQuery.shape).sort());
    for (const p of params) expect(p.required).toBe(false);
    // What ListRecordsQuery accepts the documented schemas accept; what is not digits they refuse too
    // (the 1–500 bound of a number in a string is in the description).
    const limit = compile(params.find((p: Json) => p.name === 'limit').schema);
    for (const value of ['1', '100', '500']) expect(limit(value) && ListRecordsQuery.safeParse({ limit: value }).success, value).toBe(true);
    for (const value of ['abc', '1e2', '', '-1', '2.5']) expect(limit(value) || ListRecordsQuery.safeParse({ limit: value }).success, value).toBe(false);
    const status = compile(params.find((p: Json) => p.name === 'status').schema);
    for (const value of ['pending', 'approved', 'rejected', 'retracted', 'any', 'waiting']) expect(status(value), value).toBe(ListRecordsQuery.safeParse({ status: value }).success);
  });

  it('POST /records: the JSON body is SubmitBody, each record one of the record schemas; the documented schema and the validator agree', () => {
    const body = compile(jsonBodySchema('post', '/records'));
    expect(body({ records: EXAMPLES }), JSON.stringify(body.errors?.slice(0, 3))).toBe(true);
    expect(SubmitBody.safeParse({ records: EXAMPLES }).success).toBe(true);
    for (const bad of [{}, { records: [] }, { records: EXAMPLES.slice(0, 1), extra: true }, []]) {
      expect(body(bad), JSON.stringify(bad).slice(0, 80)).toBe(false);
      expect(SubmitBody.safeParse(bad).success).toBe(false);
    }
    const items = compile(jsonBodySchema('post', '/records').properties.records.items);
    const variants: Json[] = [
      ...EXAMPLES,
      { ...EXAMPLES[0], colour: 'red' },
      { ...EXAMPLES[0], kind: 'animal' },
      { ...EXAMPLES[0], publisher_type: 'blog' },
      { ...EXAMPLES[0], id: 'X' },
      { ...EXAMPLES[0], revision: 3 },
    ];
    for (const record of variants) expect(items(record), JSON.stringify(record).slice(0, 80)).toBe(validateRecord(record).ok);
    expect(Object.keys(operation('post', '/records').requestBody.content).sort()).toEqual(['application/json', 'application/x-ndjson']);
  });

  it('POST /reviews: the envelope is ReviewsBody, each decision ReviewDecision', () => {
    const schema = jsonBodySchema('post', '/reviews');
    const decision = compile(schema.properties.decisions.items);
    const good = { kind: 'event', id: 'evt-x-1', revision: 3, decision: 'approve', note: 'seen' };
    for (const d of [good, { ...good, revision: undefined }, { ...good, revision: 0 }, { ...good, decision: 'maybe' }, { ...good, by: 'me' }]) {
      const clean = JSON.parse(JSON.stringify(d));
      expect(decision(clean), JSON.stringify(d)).toBe(ReviewDecision.safeParse(clean).success);
    }
    const envelope = compile(schema);
    expect(envelope({ decisions: [good] })).toBe(true);
    expect(envelope({ decisions: [] })).toBe(ReviewsBody.safeParse({ decisions: [] }).success);
  });

  it('every error is a problem document', () => {
    for (const r of ROUTES) expect(operation(r.method.toLowerCase(), r.resource).responses.default.content['application/problem+json'].schema).toEqual({ $ref: '#/components/schemas/Problem' });
    expect(doc.components.schemas.Problem.required).toEqual(expect.arrayContaining(['type', 'title', 'status', 'detail']));
  });
});
