/**
 * A configuration mistake found at start-up: an option, flag or environment variable with a
 * value mcplens cannot honour. The collector, the dashboards generator and the `--import`
 * bootstrap all throw this one type, and their command lines print its message as one line
 * on stderr and exit with status 2. The message names the option and the bad value.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
