// The file system as the storage code sees it: an interface, so production passes Node's
// fs/promises (node-fs.ts) while the deterministic simulator passes an in-memory disk whose
// unsynced writes a simulated power loss can keep, lose or tear. It covers exactly what storage/
// and the node's snapshot staging use, in the shapes fs/promises has, so Node's own FileHandle
// satisfies `FileHandle` as it is (no wrapper on the append path).
//
// Failures keep Node's shape: an Error with `code` ('ENOENT', 'EEXIST', 'ENOSPC', 'EIO', ...),
// because the storage code branches on codes (a missing file, a full disk waited out).

/** The open modes the storage code uses, with fs/promises' meaning. */
export type OpenFlags =
  /** Read only; the file must exist. Also opens a directory (to fsync it). */
  | 'r'
  /** Read and write at positions; the file must exist. */
  | 'r+'
  /** Write only; created if missing, emptied if present. */
  | 'w'
  /** Read and write; created if missing, emptied if present. */
  | 'w+'
  /** Read and write; created, failing with EEXIST if it exists. */
  | 'wx+';

export interface FileStat {
  size: number;
  isFile(): boolean;
  isDirectory(): boolean;
}

/** An open file. Positions are byte offsets; writes never append implicitly. */
export interface FileHandle {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }>;
  /** Makes this file's written data durable (fdatasync). */
  datasync(): Promise<void>;
  /** Makes this file's data and metadata durable (fsync); on a directory, its entries. */
  sync(): Promise<void>;
  truncate(length?: number): Promise<void>;
  stat(): Promise<FileStat>;
  /** The whole file from its start. */
  readFile(): Promise<Buffer>;
  close(): Promise<void>;
}

export interface FileSystem {
  open(path: string, flags: OpenFlags): Promise<FileHandle>;
  /** Always with `recursive: true` here: missing parents are created, an existing directory is fine. */
  mkdir(path: string, opts: { recursive: true }): Promise<unknown>;
  readdir(path: string): Promise<string[]>;
  /** Replaces `to` if it exists (a file, or an empty directory when `from` is one). */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Removes a file or a whole tree; with `force`, a missing path is not an error. */
  rm(path: string, opts: { recursive: true; force: true }): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  /** Creates or empties the file and writes `data` (not synced). */
  writeFile(path: string, data: string | Uint8Array): Promise<void>;
  stat(path: string): Promise<FileStat>;
}
