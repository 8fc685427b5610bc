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
