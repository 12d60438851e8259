/** Exhaustiveness check for discriminated unions: a new variant fails to compile. */
export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}
