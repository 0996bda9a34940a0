import type { DataPolicy } from '../../api/models';

/** What the template lets cross between the device and the session; absent clipboard settings allow. */
export function clipboardPolicy(policy: DataPolicy | undefined): { paste: boolean; copy: boolean } {
  return { paste: policy?.clipboardIn !== false, copy: policy?.clipboardOut !== false };
}
