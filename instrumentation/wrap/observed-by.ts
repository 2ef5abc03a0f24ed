/** Set by `mcplens wrap` in its child's environment: the server's own instrumentation stays off, so no call is counted twice. */
export const OBSERVED_BY_ENV = 'MCPLENS_OBSERVED_BY';
/** The value wrap sets. */
export const OBSERVED_BY_WRAP = 'wrap';
