/**
 * Summary of a V8 .cpuprofile (written by `node --cpu-prof`): the functions with the most self time
 * (time sampled while that function itself was on top of the stack), with their share of all samples,
 * and optionally the total time (self + callees) under functions whose name matches.
 * `node --import tsx bench/cpu-profile.ts <file.cpuprofile> [top=25] [total-of-regex]`.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { fmt, isMain } from './support.ts';

export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface FunctionTime {
  /** `name (file:line)`; anonymous functions are `(anonymous)`. */
  where: string;
  ms: number;
  share: number;
}

const label = (f: CpuProfile['nodes'][number]['callFrame']) =>
  `${f.functionName || '(anonymous)'}${f.url ? ` (${basename(f.url.replace(/\?.*$/, ''))}:${f.lineNumber + 1})` : ''}`;

/** Self time per function (all nodes of the same function summed), largest first. */
export function selfTimes(profile: CpuProfile): FunctionTime[] {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const ms = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    // timeDeltas[i] is the time since the previous sample: it is spent in the node sampled at i.
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    total += dt;
    const node = byNode.get(id);
    if (!node) return;
    const key = label(node.callFrame);
    ms.set(key, (ms.get(key) ?? 0) + dt);
  });
  return [...ms].map(([where, t]) => ({ where, ms: t, share: total > 0 ? t / total : 0 })).sort((a, b) => b.ms - a.ms);
}

/**
 * Total time (self + everything called) under the outermost frames whose label matches `pattern`:
 * a sample counts once however deep the match recurses.
 */
export function totalUnder(profile: CpuProfile, pattern: RegExp): number {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const matches = new Map<number, boolean>();
  const under = (id: number): boolean => {
    const known = matches.get(id);
    if (known !== undefined) return known;
    const node = byNode.get(id);
    const up = parent.get(id);
    const m = (node !== undefined && pattern.test(label(node.callFrame))) || (up !== undefined && under(up));
    matches.set(id, m);
    return m;
  };
  let ms = 0;
  profile.samples.forEach((id, i) => {
    if (under(id)) ms += (profile.timeDeltas[i] ?? 0) / 1000;
  });
  return ms;
}

/** The top `top` self-time functions as text lines. */
export function summarise(profile: CpuProfile, top = 25): string {
  const rows = selfTimes(profile).slice(0, top);
  const total = (profile.endTime - profile.startTime) / 1000;
  return [`profile: ${fmt(total)} ms sampled; top ${rows.length} functions by self time:`, ...rows.map((r) => `${fmt(r.ms).padStart(8)} ms ${(r.share * 100).toFixed(1).padStart(5)} %  ${r.where}`)].join('\n');
}

if (isMain(import.meta.url)) {
  const [file, top, under] = process.argv.slice(2);
  if (!file) throw new Error('usage: bench/cpu-profile.ts <file.cpuprofile> [top] [regex]');
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  process.stdout.write(summarise(profile, top ? Number(top) : 25) + '\n');
  if (under) process.stdout.write(`total under /${under}/: ${fmt(totalUnder(profile, new RegExp(under)))} ms\n`);
}
