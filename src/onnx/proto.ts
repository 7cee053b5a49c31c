// The ONNX protobuf messages, through the onnx-proto package (ONNX's own onnx.proto compiled by
// protobufjs): decoding and encoding stay in a maintained library, this file only adapts its loose
// field types (int64 as number | Long, optional everywhere) to what the importer and exporter need.
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.ModelProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;

/** An int64 field: protobufjs gives a Long object when the long package is present, else a number. */
export type Int64 = number | { toNumber(): number };

export function toNumber(v: Int64 | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

export class OnnxFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxFormatError';
  }
}

export function decodeModel(bytes: Uint8Array, source: string): ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new OnnxFormatError(`${source}: not an ONNX model (protobuf decoding failed: ${(e as Error).message})`);
  }
}

export function encodeModel(model: onnxProto.onnx.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

export const DataType = onnx.TensorProto.DataType;
export const AttributeType = onnx.AttributeProto.AttributeType;

/** The dims of a tensor as numbers. */
export function tensorDims(t: TensorProto): number[] {
  return (t.dims ?? []).map(toNumber);
}

/** A FLOAT tensor's values (float_data or little-endian raw_data). */
export function floatValues(t: TensorProto, what: string): Float32Array {
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    throw new OnnxFormatError(`${what} keeps its data in an external file, which layerlock does not read (save the model with its weights inside)`);
  }
  if (t.dataType !== DataType.FLOAT) {
    throw new OnnxFormatError(`${what} has data type ${DataType[t.dataType ?? 0] ?? t.dataType}; layerlock imports float32 models only`);
  }
  const count = tensorDims(t).reduce((a, b) => a * b, 1);
  let out: Float32Array;
  if (t.rawData && t.rawData.length > 0) {
    if (t.rawData.length !== count * 4) throw new OnnxFormatError(`${what} has ${t.rawData.length} bytes of data for ${count} float32 values`);
    out = new Float32Array(count);
    new Uint8Array(out.buffer).set(t.rawData);
    // ONNX raw data is little-endian, as is every machine Node runs on that layerlock builds for.
  } else {
    out = Float32Array.from(t.floatData ?? []);
    if (out.length !== count) throw new OnnxFormatError(`${what} has ${out.length} values for dims [${tensorDims(t).join(', ')}]`);
  }
  return out;
}

/** An INT64 or INT32 tensor's values (shape arguments such as Reshape's). */
export function intValues(t: TensorProto, what: string): number[] {
  const count = tensorDims(t).reduce((a, b) => a * b, 1);
  let out: number[];
  if (t.dataType === DataType.INT64) {
    if (t.rawData && t.rawData.length > 0) {
      const dv = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
      out = [];
      for (let i = 0; i < t.rawData.length / 8; i++) out.push(Number(dv.getBigInt64(8 * i, true)));
    } else out = (t.int64Data ?? []).map(toNumber);
  } else if (t.dataType === DataType.INT32) {
    if (t.rawData && t.rawData.length > 0) {
      const dv = new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength);
      out = [];
      for (let i = 0; i < t.rawData.length / 4; i++) out.push(dv.getInt32(4 * i, true));
    } else out = [...(t.int32Data ?? [])];
  } else if (t.dataType === DataType.FLOAT) {
    out = [...floatValues(t, what)];
  } else {
    throw new OnnxFormatError(`${what} has data type ${DataType[t.dataType ?? 0] ?? t.dataType}, expected integers`);
  }
  if (out.length !== count) throw new OnnxFormatError(`${what} has ${out.length} values for dims [${tensorDims(t).join(', ')}]`);
  return out;
}

/** A float32 tensor message. */
export function floatTensor(name: string, dims: readonly number[], data: Float32Array): onnxProto.onnx.ITensorProto {
  return {
    name, dims: [...dims], dataType: DataType.FLOAT,
    rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
  };
}

/** An int64 tensor message. */
export function int64Tensor(name: string, values: readonly number[]): onnxProto.onnx.ITensorProto {
  return { name, dims: [values.length], dataType: DataType.INT64, int64Data: [...values] };
}
