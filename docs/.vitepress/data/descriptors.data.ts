// The properties table: every transport in the demo's registry, with the
// descriptor its package exports. Nothing here restates a descriptor.
import path from "node:path";
import type { MechanismDescriptor } from "@ipc-sampler/core";
import { transports } from "@ipc-sampler/demo/registry";
import { repoDir } from "./paths";

export interface DescriptorRow {
  id: string;
  packageName: string;
  exportName: string;
  /** Absent while the package does not export the transport yet. */
  descriptor?: MechanismDescriptor;
  /** Why there is no descriptor. */
  pending?: string;
  /** The named resources the transport creates (`transport.named.kinds`, their nouns); empty for an unnamed one. */
  named?: string[];
}

declare const data: DescriptorRow[];
export { data };

export async function loadDescriptors(): Promise<DescriptorRow[]> {
  const rows: DescriptorRow[] = [];
  for (const t of transports) {
    const row: DescriptorRow = { id: t.id, packageName: t.packageName, exportName: t.exportName };
    try {
      const mod: Record<string, unknown> = await import(t.packageName);
      const transport = mod[t.exportName] as { descriptor?: MechanismDescriptor; named?: { kinds: readonly { noun: string }[] } } | undefined;
      row.named = transport?.named?.kinds.map((k) => k.noun) ?? [];
      const descriptor = transport?.descriptor ?? (mod[`${t.id}Descriptor`] as MechanismDescriptor | undefined);
      if (descriptor && descriptor.id === t.id) row.descriptor = { ...descriptor };
      else row.pending = `${t.packageName} does not export ${t.exportName} yet`;
    } catch (err) {
      row.pending = `${t.packageName} could not be loaded (${(err as Error).message.split("\n")[0]}); run pnpm build`;
    }
    rows.push(row);
  }
  return rows;
}

/** The built files the descriptors come from: a loader that reads them reloads when they change. */
export const descriptorsWatch = [path.join(repoDir, "packages/*/dist/index.js"), path.join(repoDir, "apps/demo/dist/registry.js")];

export default { watch: descriptorsWatch, load: loadDescriptors };
