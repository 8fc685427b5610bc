// TEMPORARY during development: replaced by the real publisher before commit.
export async function publishRelease(_ctx: unknown, _opts: { trigger: string }): Promise<{ published: false; reason: string }> {
  return { published: false, reason: 'not yet' };
}
