/**
 * Reflection view of the .proto files (full protobufjs, parsed at runtime).
 * Not used on hot paths; tests and tools use it to walk every type.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

export const PROTO_DIR = path.dirname(fileURLToPath(import.meta.url));

/** The IM.*.proto files, sorted by name. */
export function protoFiles(): string[] {
  return readdirSync(PROTO_DIR)
    .filter((f) => /^IM\..+\.proto$/.test(f))
    .sort()
    .map((f) => path.join(PROTO_DIR, f));
}

/** Parses all IM.*.proto files into one resolved root (camelCase names, like the generated code). */
export function loadProtoRoot(): protobuf.Root {
  const root = new protobuf.Root().loadSync(protoFiles());
  root.resolveAll();
  return root;
}

/** Every message and enum type under `ns`, depth first. */
export function allTypes(ns: protobuf.NamespaceBase): { messages: protobuf.Type[]; enums: protobuf.Enum[] } {
  const messages: protobuf.Type[] = [];
  const enums: protobuf.Enum[] = [];
  const walk = (n: protobuf.NamespaceBase): void => {
    for (const obj of n.nestedArray) {
      if (obj instanceof protobuf.Type) messages.push(obj);
      else if (obj instanceof protobuf.Enum) enums.push(obj);
      if (obj instanceof protobuf.Namespace) walk(obj);
    }
  };
  walk(ns);
  return { messages, enums };
}
