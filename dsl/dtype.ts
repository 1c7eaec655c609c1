// DSL · element types, re-exported from the Graph IR so models import from dsl/ only.

export { DType, isFloat, isInt, byteSize } from '../compiler/ir/dtype.ts';
