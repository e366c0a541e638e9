// Test services come from scripts/services.sh (via scripts/test.sh). A missing one is a
// failure, never a skip: the tests cannot prove anything without it.
export function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: start the test services with scripts/services.sh up (npm test does this)`);
  }
  return v;
}
