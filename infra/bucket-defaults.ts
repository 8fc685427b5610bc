import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AnyPrincipal, Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';

/**
 * Every bucket starts from these (after aws-solutions-constructs' s3-bucket-defaults): private, ACLs off,
 * encrypted, versioned, TLS 1.2+ only, and kept when the stack goes away.
 */
export function secureBucketProps(props: s3.BucketProps = {}): s3.BucketProps {
  return {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    versioned: true,
    removalPolicy: RemovalPolicy.RETAIN,
    ...props,
  };
}

export interface PublicReadBucketProps {
  bucketName: string;
  /** Object keys or key patterns (`releases/*`) that anyone may GET; nothing else is public. */
  publicKeys: readonly string[];
  /** Key prefixes (`releases/`) anyone may LIST: Athena needs s3:ListBucket on a table's location. */
  publicListPrefixes?: readonly string[];
  cors?: s3.CorsRule[];
  lifecycleRules?: s3.LifecycleRule[];
}

/**
 * The ONE place where a bucket is made public, on purpose: the secure defaults, except that a bucket
 * policy may grant anonymous access (ACLs stay blocked and disabled), and that policy grants only
 * s3:GetObject on `publicKeys`, and s3:ListBucket only under `publicListPrefixes` (Athena lists a table's
 * location before reading it; everything listed there is public anyway).
 */
export function publicReadBucket(scope: Construct, id: string, props: PublicReadBucketProps): s3.Bucket {
  const bucket = new s3.Bucket(
    scope,
    id,
    secureBucketProps({
      bucketName: props.bucketName,
      blockPublicAccess: new s3.BlockPublicAccess({ blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: false, restrictPublicBuckets: false }),
      cors: props.cors,
      lifecycleRules: props.lifecycleRules,
    }),
  );
  bucket.addToResourcePolicy(
    new PolicyStatement({
      sid: 'AnonymousReadOfPublishedObjects',
      effect: Effect.ALLOW,
      principals: [new AnyPrincipal()],
      actions: ['s3:GetObject'],
      resources: props.publicKeys.map((key) => bucket.arnForObjects(key)),
    }),
  );
  if (props.publicListPrefixes && props.publicListPrefixes.length > 0) {
    bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AnonymousListOfPublishedPrefixes',
        effect: Effect.ALLOW,
        principals: [new AnyPrincipal()],
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': props.publicListPrefixes.map((p) => `${p}*`) } },
      }),
    );
  }
  return bucket;
}

/** Lifecycle for a bucket that holds only throw-away objects (Athena query results). */
export const expireAfter = (days: number): s3.LifecycleRule => ({
  id: `expire-after-${days}-days`,
  expiration: Duration.days(days),
  noncurrentVersionExpiration: Duration.days(1),
  abortIncompleteMultipartUploadAfter: Duration.days(1),
});
