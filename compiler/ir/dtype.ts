// Graph IR · element types. Shared by every stage: the DSL types its tensors with
// these, the interpreter rounds to them, the printers map them to WGSL/CUDA types.

export enum DType {
  F32 = 'f32',
  F16 = 'f16',
  BF16 = 'bf16',
  I32 = 'i32',
  U32 = 'u32',
  Bool = 'bool',
}

export const FLOAT_DTYPES: ReadonlySet<DType> = new Set([DType.F32, DType.F16, DType.BF16]);
export const INT_DTYPES: ReadonlySet<DType> = new Set([DType.I32, DType.U32]);

export function isFloat(dtype: DType): boolean {
  return FLOAT_DTYPES.has(dtype);
}

export function isInt(dtype: DType): boolean {
  return INT_DTYPES.has(dtype);
}

/** Bytes per element in device buffers (bool is stored as one u32 word). */
export function byteSize(dtype: DType): number {
  switch (dtype) {
    case DType.F32:
    case DType.I32:
    case DType.U32:
    case DType.Bool:
      return 4;
    case DType.F16:
    case DType.BF16:
      return 2;
    default:
      return dtype satisfies never;
  }
}
