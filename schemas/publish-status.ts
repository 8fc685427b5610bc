import { z } from 'zod';

/** The states of the last publish (API.md `GET /publish/status`). */
export const PUBLISH_STATES = ['running', 'published', 'no_changes', 'failed'] as const;

/** What `GET /publish/status` answers: the last publish, as the publisher recorded it in the store. */
export const PublishStatus = z
  .object({
    state: z.enum(PUBLISH_STATES),
    version: z.string().optional().meta({ description: 'The release published (state `published`).' }),
    started_at: z.string().meta({ description: 'When the publish started (ISO 8601).' }),
    finished_at: z.string().optional().meta({ description: 'When it ended; absent while running.' }),
    deferred: z.array(z.object({ id: z.string(), reason: z.string() })).optional().meta({ description: 'Records this publish held back, with why.' }),
    error: z.object({ code: z.string(), message: z.string() }).optional().meta({ description: 'Why it failed (state `failed`).' }),
  })
  .meta({ description: 'The last publish: running, published (version), no changes, or failed (code, message).' });
export type PublishStatus = z.infer<typeof PublishStatus>;

/** `POST /publish` where the platform cannot wait for the publish (API Gateway's 29 s): 202. */
export const PublishAccepted = z.object({ accepted: z.literal(true), status_url: z.string().meta({ description: 'Where GET /publish/status tells how it went.' }) });
export type PublishAccepted = z.infer<typeof PublishAccepted>;

/**
 * The publisher's own CloudWatch metrics (Powertools Metrics, EMF), named here so that the alarms in
 * infra/ and the function agree; the `service` dimension is the deployment (POWERTOOLS_SERVICE_NAME).
 */
export const PUBLISH_METRICS = {
  namespace: 'RightsLedger',
  /** A release was committed (1 per release, 0 for a run with nothing to publish). */
  releasePublished: 'ReleasePublished',
  /** A run ended well, with or without a new release: its absence over hours means the publisher is not working. */
  publishSucceeded: 'PublishSucceeded',
  /** A run failed (each attempt). */
  publishFailed: 'PublishFailed',
} as const;
