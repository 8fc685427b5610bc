// What `import { z } from 'zod'` resolves to in the API bundles: see external.js.
import * as z from './external.js';
export * from './external.js';
export { z, z as default };
