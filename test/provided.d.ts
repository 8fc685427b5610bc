// Values test/global-setup.ts provides to every test file through inject().
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamodbEndpoint: string;
    s3Endpoint: string;
  }
}
