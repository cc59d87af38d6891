// Name rules shared by the server (validation) and the client (early checks). Spec §2.1 [rec]:
// a letter, then letters, digits, '-' or '_'; 64 characters at most.
export const RESOURCE_NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export function isValidResourceName(name: string): boolean {
  return RESOURCE_NAME_RE.test(name);
}

/** Receipt handles we issue match this (spec §4 and the Go SDK's client-side check). */
export const RECEIPT_HANDLE_RE = /^[A-Za-z0-9:_-]{1,256}$/;
