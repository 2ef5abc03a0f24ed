/**
 * Attribute helpers shared by the protobuf and JSON decoders, so both build identical
 * span views from the same request.
 */
import type { AttributeValue, Attributes } from './span-view.js';

/**
 * Sets one attribute. Keys come from the wire, so `__proto__` must not reach the
 * prototype setter (it would swap the object's prototype for an array value); it is
 * defined as an own property instead. The last value for a repeated key wins, in both
 * encodings.
 */
export function setAttribute(attributes: Attributes, key: string, value: AttributeValue): void {
  if (key === '__proto__') {
    Object.defineProperty(attributes, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    attributes[key] = value;
  }
}
