/**
 * Hooks on the SDK `Transport` interface (`start`, `send`, `onmessage`, `onclose`), the common
 * ground of SDK v1 and v2 on both sides: the server's attachment (attach.ts) and the client's
 * (client/instrument-client.ts) observe messages through it. Each hook is installed once.
 */

// Symbol.for, not Symbol(): two copies of mcplens in one process must agree on what is wrapped.
const WRAPPED = Symbol.for('mcplens.wrapped');
type Wrapped<F> = F & { [WRAPPED]?: true };

/** The SDK `Transport` interface, shared by v1 and v2. */
export interface TransportLike {
  start(): Promise<void>;
  send(message: unknown, options?: unknown): Promise<void>;
  onmessage?: ((message: unknown, extra?: unknown) => void) | undefined;
  onclose?: (() => void) | undefined;
  sessionId?: string | undefined;
}

/** Duck-typed: the application's SDK copy is not ours, so never `instanceof`. */
export function isTransport(value: unknown): value is TransportLike {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as TransportLike).start === 'function' &&
    typeof (value as TransportLike).send === 'function'
  );
}

/** Replaces `send` with `wrap(send)` (once). */
export function hookSend(transport: TransportLike, wrap: (send: TransportLike['send']) => TransportLike['send']): void {
  const send = transport.send as Wrapped<TransportLike['send']>;
  if (send[WRAPPED] === true) return;
  const hooked: Wrapped<TransportLike['send']> = wrap(send);
  hooked[WRAPPED] = true;
  transport.send = hooked;
}

/**
 * Replaces the `onmessage` Protocol.connect installed with `wrap(onmessage)` (once), and has
 * `onClose` run before the transport's own `onclose`. Call it once `onmessage` is set.
 */
export function hookInbound(
  transport: TransportLike,
  wrap: (onmessage: NonNullable<TransportLike['onmessage']>) => NonNullable<TransportLike['onmessage']>,
  onClose: () => void,
): void {
  const onmessage = transport.onmessage as Wrapped<NonNullable<TransportLike['onmessage']>> | undefined;
  if (onmessage !== undefined && onmessage[WRAPPED] !== true) {
    const hooked: Wrapped<NonNullable<TransportLike['onmessage']>> = wrap(onmessage);
    hooked[WRAPPED] = true;
    transport.onmessage = hooked;
  }
  const onclose = transport.onclose as Wrapped<NonNullable<TransportLike['onclose']>> | undefined;
  if (onclose === undefined || onclose[WRAPPED] !== true) {
    const closed: Wrapped<NonNullable<TransportLike['onclose']>> = function oncloseObserved(this: unknown): void {
      onClose();
      onclose?.call(this);
    };
    closed[WRAPPED] = true;
    transport.onclose = closed;
  }
}

/**
 * Runs `beforeStart` when the transport starts: Protocol.connect sets `onmessage` and then calls
 * `start()`, so that is the moment to hook the inbound side of a transport not connected yet.
 */
export function hookStart(transport: TransportLike, beforeStart: () => void): void {
  const start = transport.start;
  transport.start = function startObserved(this: TransportLike): Promise<void> {
    beforeStart();
    return start.call(this);
  };
}
