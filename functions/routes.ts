/**
 * The API's routes, shared by the local server (which routes requests itself) and the CDK stack (which
 * builds API Gateway resources from it). `entry` is the file in functions/ that handles the route.
 */
export const ENTRIES = ['api-info', 'api-submit', 'api-records', 'api-keys', 'api-publish'] as const;
export type Entry = (typeof ENTRIES)[number];

export interface RouteSpec {
  method: 'GET' | 'POST';
  resource: string;
  entry: Entry;
  /** Needs an API key (checked by the authorizer before the handler runs). */
  auth: boolean;
}

export const ROUTES: ReadonlyArray<RouteSpec> = [
  { method: 'GET', resource: '/', entry: 'api-info', auth: false },
  { method: 'GET', resource: '/health', entry: 'api-info', auth: false },
  { method: 'POST', resource: '/records', entry: 'api-submit', auth: true },
  { method: 'GET', resource: '/records/{kind}/{id}', entry: 'api-records', auth: true },
  { method: 'POST', resource: '/records/{kind}/{id}/review', entry: 'api-records', auth: true },
  { method: 'POST', resource: '/records/{kind}/{id}/retract', entry: 'api-records', auth: true },
  { method: 'POST', resource: '/keys', entry: 'api-keys', auth: true },
  { method: 'POST', resource: '/keys/{key_id}/disable', entry: 'api-keys', auth: true },
  { method: 'POST', resource: '/publish', entry: 'api-publish', auth: true },
];
