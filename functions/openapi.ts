import { z } from 'zod';
import { Problem } from '../schemas/api.ts';
import { RecordId } from '../schemas/primitives.ts';
import { RecordKind } from '../schemas/records.ts';
import { ROUTES, type RouteSpec } from './routes.ts';

type Json = Record<string, unknown>;

/** JSON Schema (2020-12, the dialect of OpenAPI 3.1) of a zod schema, without its `$schema` line. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _s, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12' }) as Json;
  return rest;
}

const PATH_PARAMETERS: Record<string, z.ZodType> = { kind: RecordKind, id: RecordId, key_id: z.string().min(1).meta({ description: 'A key id, as POST /keys answered it' }) };

/** Whether a zod schema accepts `undefined`: an optional parameter or field. */
const optional = (schema: z.ZodType) => schema.safeParse(undefined).success;

function parameters(route: RouteSpec): Json[] {
  const inPath = [...route.resource.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]!);
  const path = inPath.map((name) => ({ name, in: 'path', required: true, schema: jsonSchema(PATH_PARAMETERS[name]!, 'input') }));
  const query = Object.entries(route.query?.shape ?? {}).map(([name, schema]) => {
    const s = jsonSchema(schema as z.ZodType, 'input');
    const { description, ...rest } = s;
    return { name, in: 'query', required: !optional(schema as z.ZodType), ...(description ? { description } : {}), schema: rest };
  });
  return [...path, ...query];
}

function requestBody(route: RouteSpec): Json | undefined {
  const body = route.body;
  if (!body) return undefined;
  const schema = jsonSchema(body.schema, 'input');
  if (body.items) {
    // The envelope takes any members; each is then checked by one of these schemas, on its own.
    const props = schema.properties as Record<string, Json>;
    const members = body.items.schemas.map((s) => jsonSchema(s, 'input'));
    props[body.items.field] = { ...props[body.items.field], items: members.length === 1 ? members[0] : { oneOf: members } };
  }
  const content: Json = { 'application/json': { schema } };
  if (body.ndjson) {
    content['application/x-ndjson'] = { schema: { type: 'string', description: `One member of "${body.items?.field}" per line (LF or CRLF), judged by the same schemas.` } };
  }
  return { required: body.required, content };
}

const PROBLEM = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };

/**
 * The OpenAPI 3.1 document of every route in ROUTES, generated from the zod schemas the handlers
 * validate with (query strings, bodies, and each record or decision of a batch): never written by hand.
 * @param info - the software's version, and the URL the API is served at, when known
 */
export function openApiDocument(info: { version: string; serverUrl?: string }): Json {
  const paths: Record<string, Json> = {};
  for (const route of ROUTES) {
    const body = requestBody(route);
    const params = parameters(route);
    (paths[route.resource] ??= {})[route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.auth ? {} : { security: [] }),
      ...(params.length > 0 ? { parameters: params } : {}),
      ...(body ? { requestBody: body } : {}),
      responses: {
        [String(route.response.status)]: { description: route.response.description, content: { 'application/json': { schema: jsonSchema(route.response.schema, 'output') } } },
        ...Object.fromEntries((route.otherResponses ?? []).map((r) => [String(r.status), { description: r.description, content: { 'application/json': { schema: jsonSchema(r.schema, 'output') } } }])),
        ...(route.auth ? { '401': { description: 'No key, or an unknown or disabled one', content: PROBLEM } } : {}),
        default: { description: 'An error, as an RFC 9457 problem document', content: PROBLEM },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'rights-ledger',
      version: info.version,
      description: 'Submit, review and publish human-rights records. Every error is application/problem+json.',
    },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
    security: [{ apiKey: [] }],
    paths,
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <api-key>' } },
      schemas: { Problem: jsonSchema(Problem, 'output') },
    },
  };
}
