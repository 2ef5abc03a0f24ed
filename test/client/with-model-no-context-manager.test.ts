/** withModel in an application that registered no context manager: mcplens' own scope carries the model across `await`. */
import { afterAll, expect, it } from '@jest/globals';
import { SpanKind, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR } from '../../contract/index.js';
import { withModel } from '../../instrumentation/index.js';
import { connectPair, pairOf } from './client-fixture.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
trace.setGlobalTracerProvider(provider);

afterAll(async () => {
  await provider.shutdown();
});

it('tags concurrent calls with their own scope without a context manager', async () => {
  const { client, close } = await connectPair({ provider: 'fixed', model: 'fixed-model' });
  try {
    await Promise.all([
      withModel({ provider: 'openai', model: 'gpt-4.1' }, async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return client.callTool({ name: 'echo_meta', arguments: { delayMs: 20 } });
      }),
      withModel({ provider: 'anthropic', model: 'claude-sonnet-4' }, async () => {
        await Promise.resolve();
        return client.callTool({ name: 'echo_meta', arguments: { delayMs: 20 } });
      }),
    ]);
    await client.callTool({ name: 'echo_meta', arguments: {} });
    const deadline = Date.now() + 5000;
    let spans = exporter.getFinishedSpans();
    const calls = (): typeof spans =>
      spans.filter((s) => s.kind === SpanKind.CLIENT && s.attributes[ATTR.GEN_AI_TOOL_NAME] === 'echo_meta');
    while ((calls().length < 3 || calls().some((c) => pairOf(spans, c) === undefined)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      spans = exporter.getFinishedSpans();
    }
    const models = calls().map((c) => [c.attributes[ATTR.GEN_AI_REQUEST_MODEL], pairOf(spans, c)?.attributes[ATTR.GEN_AI_REQUEST_MODEL]]);
    expect(models.sort()).toEqual([
      ['claude-sonnet-4', 'claude-sonnet-4'],
      ['fixed-model', 'fixed-model'],
      ['gpt-4.1', 'gpt-4.1'],
    ]);
  } finally {
    await close();
  }
});
