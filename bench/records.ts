/**
 * Deterministic synthetic records for the benchmarks: a seeded PRNG (mulberry32), so the same seed and
 * counts always give byte-identical records. Sources come first, then events (1–3 sources each), claims
 * and persons, so every reference points at a record earlier in the list: any prefix of the list, sent
 * in order and in batches, is valid on its own.
 */
import { validateRecord } from '../schemas/validate-record.ts';

export interface RecordCounts {
  sources: number;
  events: number;
  claims: number;
  persons: number;
}

/** A realistic mix for `total` records: 10 % sources, 45 % events, 15 % claims, the rest persons. */
export function mixFor(total: number): RecordCounts {
  if (!Number.isInteger(total) || total < 4) throw new Error(`need at least 4 records, got ${total}`);
  const sources = Math.max(1, Math.round(total * 0.1));
  const events = Math.max(1, Math.round(total * 0.45));
  const claims = Math.max(1, Math.round(total * 0.15));
  return { sources, events, claims, persons: total - sources - events - claims };
}

/** mulberry32: tiny, fast, good enough for test data; returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EN_WORDS = (
  'protesters gathered outside the provincial governor office chanting slogans against rising prices and the ' +
  'arrest of students security forces riot police plainclothes agents fired tear gas live ammunition pellets ' +
  'witnesses said several people were wounded taken to hospital relatives were refused information about ' +
  'detainees the judiciary announced charges of moharebeh an activist reported that internet access was cut ' +
  'across the city for hours video footage verified by our team shows a crowd near the bazaar a local ' +
  'source who asked not to be named described beatings in custody families gathered outside the prison ' +
  'demanding news of their children state media described the protesters as rioters linked to foreign ' +
  'enemies human rights groups documented the names of victims and the circumstances of their deaths the ' +
  'funeral was held under heavy security and mourners were arrested after the ceremony teachers workers ' +
  'truck drivers and shopkeepers joined a strike that closed markets in several districts'
).split(' ');

const FA_WORDS = (
  'معترضان در مقابل استانداری تجمع کردند و علیه گرانی و بازداشت دانشجویان شعار دادند نیروهای امنیتی ' +
  'گاز اشک‌آور و گلوله جنگی شلیک کردند شاهدان گفتند چند نفر زخمی شدند و به بیمارستان منتقل شدند ' +
  'خانواده‌ها در مقابل زندان جمع شدند و خواستار اطلاع از وضعیت فرزندان خود شدند دسترسی به اینترنت ' +
  'برای ساعت‌ها قطع شد رسانه‌های دولتی معترضان را اغتشاشگر خواندند مراسم خاکسپاری تحت تدابیر شدید ' +
  'امنیتی برگزار شد و عزاداران پس از مراسم بازداشت شدند کارگران و کامیون‌داران و بازاریان به اعتصاب پیوستند'
).split(' ');

const PROVINCES: Array<[string, string[], number, number]> = [
  ['Tehran', ['Tehran', 'Eslamshahr', 'Shahriar'], 35.69, 51.39],
  ['Kurdistan', ['Sanandaj', 'Saqqez', 'Marivan'], 35.31, 46.99],
  ['Sistan and Baluchestan', ['Zahedan', 'Chabahar', 'Iranshahr'], 29.49, 60.86],
  ['Isfahan', ['Isfahan', 'Kashan', 'Najafabad'], 32.65, 51.67],
  ['Khuzestan', ['Ahvaz', 'Abadan', 'Izeh'], 31.32, 48.67],
  ['Ilam', ['Ilam', 'Malekshahi', 'Abdanan'], 33.64, 46.42],
  ['Alborz', ['Karaj', 'Fardis'], 35.83, 50.99],
  ['Razavi Khorasan', ['Mashhad', 'Neyshabur'], 36.3, 59.6],
  ['Gilan', ['Rasht', 'Bandar Anzali', 'Lahijan'], 37.28, 49.58],
  ['West Azerbaijan', ['Urmia', 'Mahabad', 'Piranshahr'], 37.55, 45.07],
];
const PLACES = ['Azadi Square', 'the bazaar', 'Evin Prison', 'the university campus', 'Enghelab Street', 'the central mosque', 'the main roundabout', 'Ghezel Hesar Prison'];
const PUBLISHERS: Array<[string, string]> = [
  ['Iran Human Rights (IHRNGO)', 'ngo'],
  ['Human Rights Activists News Agency (HRANA)', 'ngo'],
  ['Hengaw Organization for Human Rights', 'ngo'],
  ['Amnesty International', 'intl_org'],
  ['IRNA', 'state_media'],
  ['Tasnim News Agency', 'state_media'],
  ['BBC Persian', 'independent_media'],
  ['Iran International', 'opposition_media'],
  ['Kurdistan Human Rights Network', 'ngo'],
  ['An eyewitness on social media', 'social_media'],
];
const ACTORS: Array<[string, string]> = [
  ['Islamic Revolutionary Guard Corps (IRGC)', 'military'],
  ['Basij militia', 'state_security'],
  ['Special Units of the police (NOPO)', 'state_security'],
  ['Revolutionary Court', 'judiciary'],
  ['Protesters', 'protesters'],
  ['Residents of the neighbourhood', 'civilians'],
  ['Prisoners of Ward 4', 'prisoners'],
  ['Ministry of Intelligence', 'government'],
];
const FIRST = ['Mahsa', 'Nika', 'Hadis', 'Kian', 'Mohsen', 'Majidreza', 'Sarina', 'Javad', 'Hamid', 'Zahra', 'Reza', 'Fatemeh', 'Ali', 'Maryam', 'Omid', 'Parisa'];
const LAST = ['Amini', 'Shakarami', 'Najafi', 'Pirfalak', 'Shekari', 'Rahnavard', 'Esmaeilzadeh', 'Heydari', 'Ghaderi', 'Karimi', 'Rostami', 'Moradi', 'Hosseini', 'Rahimi'];
const FIRST_FA = ['مهسا', 'نیکا', 'حدیث', 'کیان', 'محسن', 'سارینا', 'جواد', 'زهرا', 'رضا', 'فاطمه'];
const LAST_FA = ['امینی', 'شاکرمی', 'نجفی', 'پیرفلک', 'شکاری', 'رهنورد', 'حیدری', 'کریمی', 'رستمی', 'مرادی'];
const TAGS = ['iran-2022', 'woman-life-freedom', 'death-penalty', 'protest', 'shooting', 'prison', 'strike', 'internet', 'minors', 'kurdistan', 'baluchestan'];
const EVENT_TYPES = ['protest', 'riot', 'armed_clash', 'lethal_force', 'killing', 'execution', 'death_sentence', 'arrest', 'raid', 'internet_shutdown', 'strike', 'arson', 'official_statement', 'other'];
const DAY_MS = 86_400_000;
const FIRST_DAY = Date.UTC(2022, 8, 13); // 2022-09-13
const DAYS = 1240; // … into early 2026

/** Generates the records; `seed` fixes every byte. */
export function generateRecords(counts: RecordCounts, seed = 20260101): Array<Record<string, unknown>> {
  return [...recordStream(counts, seed)];
}

/**
 * The same records as {@link generateRecords}, one at a time, so that a million of them never sit in
 * memory together (the 1 M-record seeds of bench/seed.ts).
 */
export function* recordStream(counts: RecordCounts, seed = 20260101): Generator<Record<string, unknown>> {
  const rand = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const chance = (p: number) => rand() < p;
  const pickSome = <T>(xs: readonly T[], lo: number, hi: number): T[] => {
    const n = Math.min(xs.length, int(lo, hi));
    const out = new Set<T>();
    while (out.size < n) out.add(pick(xs));
    return [...out];
  };
  const prose = (words: readonly string[], min: number, max: number) => {
    const target = int(min, max);
    let s = '';
    while (s.length < target) {
      let sentence = words[int(0, words.length - 1)]!;
      for (let i = int(6, 18); i > 0; i--) sentence += ' ' + pick(words);
      s += (s ? ' ' : '') + sentence.charAt(0).toUpperCase() + sentence.slice(1) + '.';
    }
    // Cut at a word boundary at or below max; never empty.
    if (s.length > max) s = s.slice(0, s.lastIndexOf(' ', max)) + '.';
    return s;
  };
  const date = (from = 0, span = DAYS) => new Date(FIRST_DAY + (from + int(0, span)) * DAY_MS).toISOString().slice(0, 10);
  const dayOf = (iso: string) => Math.round((Date.parse(iso) - FIRST_DAY) / DAY_MS);
  const count = () => {
    const best = int(1, 400);
    const shape = int(0, 3);
    if (shape === 0) return { best };
    if (shape === 1) return { low: best };
    if (shape === 2) return { low: best, high: best + int(0, 200) };
    return { low: Math.max(0, best - int(0, best)), best, high: best + int(0, 300) };
  };
  const location = (precise: boolean) => {
    const [admin1, cities, lat, lon] = pick(PROVINCES);
    const loc: Record<string, unknown> = { country: 'IR', admin1 };
    if (chance(0.8)) loc.admin2 = pick(cities);
    if (chance(0.3)) loc.place = pick(PLACES);
    if (precise && chance(0.5)) {
      loc.latitude = Math.round((lat + (rand() - 0.5)) * 1e4) / 1e4;
      loc.longitude = Math.round((lon + (rand() - 0.5)) * 1e4) / 1e4;
      loc.geo_precision = pick(['exact', 'neighbourhood', 'city']);
    }
    return loc;
  };
  const pad = (i: number) => String(i).padStart(7, '0');
  const sourceIds = Array.from({ length: counts.sources }, (_, i) => `src-bench-${pad(i)}`);
  const eventIds = Array.from({ length: counts.events }, (_, i) => `evt-bench-${pad(i)}`);

  for (const id of sourceIds) {
    const [publisher, publisher_type] = pick(PUBLISHERS);
    const rec: Record<string, unknown> = {
      id,
      kind: 'source',
      title: prose(EN_WORDS, 40, 160),
      publisher,
      publisher_type,
      medium: pick(['article', 'report', 'statement', 'post', 'video', 'testimony']),
      reliability: pick(['high', 'likely', 'unsure', 'unlikely', 'low', 'unknown']),
      language: pick(['en', 'fa', 'fa', 'ku']),
      tags: pickSome(TAGS, 1, 3),
    };
    if (chance(0.85)) rec.url = `https://example.org/${publisher_type}/${id}/${int(1000, 999999)}`;
    if (chance(0.3)) rec.archived_url = `https://web.archive.org/web/2024/https://example.org/${id}`;
    if (chance(0.7)) rec.published_on = date();
    if (chance(0.5)) rec.content_sha256 = Array.from({ length: 64 }, () => '0123456789abcdef'[int(0, 15)]).join('');
    yield rec;
  }

  for (const id of eventIds) {
    const start = date();
    const rec: Record<string, unknown> = {
      id,
      kind: 'event',
      event_type: pick(EVENT_TYPES),
      date_start: start,
      date_precision: pick(['day', 'day', 'day', 'week', 'month']),
      location: location(true),
      description: prose(EN_WORDS, 200, 800),
      verification: pick(['confirmed', 'corroborated', 'reported', 'reported', 'contested']),
      source_ids: pickSome(sourceIds, 1, 3),
      tags: pickSome(TAGS, 1, 4),
    };
    if (chance(0.3)) rec.date_end = date(dayOf(start), 10);
    const actors = int(0, 3);
    if (actors > 0) {
      rec.actors = Array.from({ length: actors }, () => {
        const [name, actor_type] = pick(ACTORS);
        return { name, actor_type, role: actor_type === 'protesters' || actor_type === 'civilians' || actor_type === 'prisoners' ? pick(['target', 'participant']) : 'perpetrator' };
      });
    }
    if (chance(0.4)) rec.description_fa = prose(FA_WORDS, 150, 600);
    // Counts sometimes absent: unknown is absent, never 0.
    if (chance(0.4)) rec.killed = count();
    if (chance(0.35)) rec.injured = count();
    if (chance(0.3)) rec.arrested = count();
    if (chance(0.1)) rec.restricted = { witness: prose(EN_WORDS, 100, 400), submitter_contact: `signal:+98912${int(1000000, 9999999)}` };
    yield rec;
  }

  for (let i = 0; i < counts.claims; i++) {
    const start = date();
    const rec: Record<string, unknown> = {
      id: `clm-bench-${pad(i)}`,
      kind: 'claim',
      metric: pick(['killed', 'killed', 'injured', 'arrested', 'executed', 'death_sentenced', 'disappeared']),
      population: pick(['all', 'all', 'protesters', 'minors', 'women', 'prisoners']),
      value: count(),
      qualifier: pick(['exact', 'at_least', 'approximately', 'up_to', 'range']),
      claimant: pick(PUBLISHERS)[0],
      claimant_type: pick(['state_official', 'state_media', 'ngo', 'media', 'opposition', 'intl_org']),
      period_start: start,
      source_ids: pickSome(sourceIds, 1, 2),
      tags: pickSome(TAGS, 1, 2),
    };
    if (chance(0.7)) rec.quote = prose(EN_WORDS, 60, 400);
    if (chance(0.6)) rec.period_end = date(dayOf(start), 60);
    if (chance(0.4)) rec.area = location(false);
    if (eventIds.length > 0 && chance(0.5)) rec.event_id = pick(eventIds);
    yield rec;
  }

  for (let i = 0; i < counts.persons; i++) {
    const fate = pick(['killed', 'executed', 'death_row', 'sentenced', 'detained', 'disappeared', 'injured', 'released', 'unknown']);
    const rec: Record<string, unknown> = {
      id: `per-bench-${pad(i)}`,
      kind: 'person',
      name_disclosure: pick(['public_record', 'public_record', 'consent', 'withheld']),
      gender: pick(['female', 'male', 'unknown']),
      fate,
      role: pick(['protester', 'bystander', 'political_prisoner', 'prisoner', 'journalist', 'other']),
      source_ids: pickSome(sourceIds, 1, 2),
    };
    if (chance(0.85)) rec.name = `${pick(FIRST)} ${pick(LAST)}`;
    if (chance(0.6)) rec.name_fa = `${pick(FIRST_FA)} ${pick(LAST_FA)}`;
    if (chance(0.6)) rec.age = int(12, 75);
    if (chance(0.7)) rec.fate_date = date();
    if (chance(0.3)) rec.facility = pick(['Evin Prison', 'Ghezel Hesar Prison', 'Vakilabad Prison', 'Sanandaj Central Prison']);
    if (chance(0.2)) rec.charges = pickSome(['moharebeh', 'efsad_fil_arz', 'baghy', 'espionage', 'other'], 1, 2);
    if (chance(0.2)) rec.affiliation = pick(['Teachers union', 'Haft Tappeh workers', 'University of Tehran', 'Independent']);
    if (chance(0.8)) rec.location = location(fate === 'killed' || fate === 'executed');
    if (eventIds.length > 0 && chance(0.6)) rec.event_ids = pickSome(eventIds, 1, 2);
    if (chance(0.1)) rec.restricted = { notes: prose(EN_WORDS, 100, 400) };
    yield rec;
  }
}

/**
 * Validates up to `sample` records spread evenly over the list (always the first and last) with the
 * project's own validateRecord; throws with the first problems if any is invalid.
 */
export function validateSample(records: ReadonlyArray<unknown>, sample = 400): number {
  const step = Math.max(1, Math.floor(records.length / sample));
  const picked = new Set<number>([0, records.length - 1]);
  for (let i = 0; i < records.length; i += step) picked.add(i);
  const problems: string[] = [];
  for (const i of picked) {
    const v = validateRecord(records[i]);
    if (!v.ok) problems.push(`#${i} ${v.id ?? '?'}: ${v.errors.map((e) => `${e.path} ${e.code} (${e.message})`).join('; ')}`);
  }
  if (problems.length > 0) throw new Error(`the generator made ${problems.length} invalid record(s) of ${picked.size} checked:\n${problems.slice(0, 5).join('\n')}`);
  return picked.size;
}
