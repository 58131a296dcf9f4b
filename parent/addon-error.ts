/**
 * The addon could not be loaded (not built, or built for another Node or platform). Its
 * own module, so that main.ts can recognise it without loading the addon: main.ts prints
 * the message and the hint as two plain lines and exits with status 1, no stack trace.
 */
export class AddonMissingError extends Error {
  constructor(
    /** Every file tried, each with why it did not load. */
    readonly tried: readonly string[],
    /** What to run to build it, for this platform. */
    readonly hint: string,
  ) {
    super(`the native addon is not built for this platform (looked in: ${tried.join('; ')})`);
    this.name = 'AddonMissingError';
  }
}
