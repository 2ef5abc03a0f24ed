/**
 * The flags wrap and proxy share, and their environment variables: a flag on the command line
 * wins, a variable fills a flag not given, a bad value is a ConfigError naming it.
 */
import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '../../contract/config-error.js';
import { readHostFlags } from '../../instrumentation/host-flags.js';

const resolve = (flags: Record<string, unknown>, env: Record<string, string>): unknown =>
  readHostFlags(flags, env).instrument.providerResolver?.({
    method: 'tools/call',
    params: undefined,
    headers: undefined,
    clientInfo: undefined,
    sessionId: undefined,
  });

describe('shared host flags', () => {
  it('takes provider and model from MCPLENS_PROVIDER and MCPLENS_MODEL when no flag names them', () => {
    expect(resolve({}, { MCPLENS_PROVIDER: 'anthropic', MCPLENS_MODEL: 'claude-sonnet-4-5' })).toEqual({
      provider: 'anthropic',
      model: 'claude-sonnet-4-5',
    });
  });

  it('a flag on the command line wins over the variable', () => {
    expect(resolve({ provider: 'openai', model: 'gpt-4.1' }, { MCPLENS_PROVIDER: 'anthropic', MCPLENS_MODEL: 'claude' })).toEqual({
      provider: 'openai',
      model: 'gpt-4.1',
    });
  });

  it.each([
    [{ MCPLENS_STRICT_ARGUMENTS: 'true' }, 'strictArguments', true],
    [{ MCPLENS_RECORD_CONTENT: 'true' }, 'recordContent', true],
    [{ MCPLENS_LOG: 'true' }, 'log', true],
    [{ MCPLENS_LOG: 'false' }, 'log', undefined],
  ])('switches from the environment: %j', (env, key, expected) => {
    expect((readHostFlags({}, env).instrument as Record<string, unknown>)[key]).toBe(expected);
  });

  it.each([
    [{}, { MCPLENS_LOG: 'yes' }, /MCPLENS_LOG="yes" is not supported; expected true or false/],
    [{}, { MCPLENS_MODEL: 'gpt-4.1' }, /--model needs --provider/],
    [{}, { MCPLENS_REDACT: 'x' }, /--redact needs --record-content/],
    [{ 'record-content': true }, { MCPLENS_REDACT: '(' }, /is not a regular expression/],
    [{ 'otlp-endpoint': 'localhost:4318' }, {}, /is not an http\(s\) URL/],
  ])('%j with %j: a ConfigError naming it', (flags, env, message) => {
    expect(() => readHostFlags(flags, env)).toThrow(ConfigError);
    expect(() => readHostFlags(flags, env)).toThrow(message);
  });
});
