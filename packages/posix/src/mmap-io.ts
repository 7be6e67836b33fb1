/**
 * The JavaScript surface of mmap-io 1.1.7 (vendor/mmap-io), as its own
 * `mmap-io.d.ts` declares the part this package uses.
 */
export interface MmapIo {
  /** mmap(2): maps `size` bytes of `fd` from `offset`; the Buffer unmaps when collected. */
  map(size: number, protection: number, flags: number, fd: number, offset?: number, advise?: number): Buffer;
  /** msync(2) over a range; `blocking` is MS_SYNC instead of MS_ASYNC. */
  sync(buffer: Buffer, offset?: number, size?: number, blocking?: boolean, invalidate?: boolean): void;
  /** madvise(2). */
  advise(buffer: Buffer, advise: number): void;
  readonly PROT_READ: number;
  readonly PROT_WRITE: number;
  readonly MAP_SHARED: number;
  readonly MAP_POPULATE: number;
  readonly MADV_SEQUENTIAL: number;
  readonly MADV_WILLNEED: number;
  readonly PAGESIZE: number;
}
