/**
 * Keras' GRU with `reset_after=True`, the default of tf.keras 2 and Keras 3, which tfjs-layers'
 * own GRUCell refuses. The cell follows keras/src/layers/rnn/gru.py: gates z, r, h; a bias of two
 * rows (input, recurrent); the reset gate scales the recurrent projection *after* its bias:
 *   z = σ(x·Wz + bz + h·Uz + b'z)   r = σ(x·Wr + br + h·Ur + b'r)
 *   ĥ = act(x·Wh + bh + r ⊙ (h·Uh + b'h))   h' = z ⊙ h + (1 − z) ⊙ ĥ
 * The time loop, go_backwards, return_sequences, return_state, masking and Bidirectional come from
 * tfjs' own RNN layer, which takes any cell with a `stateSize`.
 */
import { tf } from './tfjs-backend.ts';

type Activation = (x: tf.Tensor) => tf.Tensor;

/**
 * Activations the cell computes, by the name Keras saves (tfjs camel-cases it on the way in).
 * hard_sigmoid is left out on purpose: Keras 2 and Keras 3 define it differently.
 */
const ACTIVATIONS: Record<string, Activation> = {
  linear: (x) => x,
  tanh: (x) => tf.tanh(x),
  sigmoid: (x) => tf.sigmoid(x),
  relu: (x) => tf.relu(x),
  relu6: (x) => tf.relu6(x),
  elu: (x) => tf.elu(x),
  selu: (x) => tf.selu(x),
  softplus: (x) => tf.softplus(x),
  softsign: (x) => tf.div(x, tf.add(1, tf.abs(x))),
  silu: (x) => tf.mul(x, tf.sigmoid(x)),
  swish: (x) => tf.mul(x, tf.sigmoid(x)),
};

/** Activation names (as Keras writes them) that a reset_after GRU can use here. */
export const GRU_ACTIVATIONS: ReadonlySet<string> = new Set(Object.keys(ACTIVATIONS));

function activation(name: unknown, fallback: string): { name: string; fn: Activation } {
  const key = name === undefined ? fallback : name === null ? 'linear' : String(name);
  const fn = ACTIVATIONS[key];
  if (fn === undefined) throw new Error(`ModelhubGRUCell has no activation ${key}`);
  return { name: key, fn };
}

type CellArgs = ConstructorParameters<typeof tf.layers.Layer>[0] & {
  units: number;
  activation?: string | null;
  recurrentActivation?: string | null;
  useBias?: boolean;
};

export class ModelhubGRUCell extends tf.layers.RNNCell {
  static readonly className = 'ModelhubGRUCell';
  readonly units: number;
  readonly stateSize: number;
  private readonly useBias: boolean;
  private readonly act: { name: string; fn: Activation };
  private readonly recurrentAct: { name: string; fn: Activation };
  private kernel?: tf.LayerVariable;
  private recurrentKernel?: tf.LayerVariable;
  private bias?: tf.LayerVariable;

  constructor(args: CellArgs) {
    super(args);
    if (!Number.isInteger(args.units) || args.units <= 0) throw new Error(`ModelhubGRUCell needs a positive integer units, got ${args.units}`);
    this.units = args.units;
    this.stateSize = args.units;
    this.useBias = args.useBias ?? true;
    this.act = activation(args.activation, 'tanh');
    this.recurrentAct = activation(args.recurrentActivation, 'sigmoid');
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const inputDim = shape[shape.length - 1]!;
    // Saved weights replace these; the initializer only has to be cheap.
    const zeros = tf.initializers.zeros();
    this.kernel = this.addWeight('kernel', [inputDim, 3 * this.units], 'float32', zeros);
    this.recurrentKernel = this.addWeight('recurrent_kernel', [this.units, 3 * this.units], 'float32', zeros);
    if (this.useBias) this.bias = this.addWeight('bias', [2, 3 * this.units], 'float32', zeros);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
    return tf.tidy(() => {
      if (!Array.isArray(inputs) || inputs.length !== 2) throw new Error('ModelhubGRUCell expects [inputs, state]');
      const [x, hPrev] = inputs as [tf.Tensor2D, tf.Tensor2D];
      let projectedX = tf.matMul(x, this.kernel!.read() as tf.Tensor2D);
      let projectedH = tf.matMul(hPrev, this.recurrentKernel!.read() as tf.Tensor2D);
      if (this.bias !== undefined) {
        const [inputBias, recurrentBias] = tf.unstack(this.bias.read());
        projectedX = tf.add(projectedX, inputBias!);
        projectedH = tf.add(projectedH, recurrentBias!);
      }
      const [xZ, xR, xH] = tf.split(projectedX, 3, -1);
      const [hZ, hR, hH] = tf.split(projectedH, 3, -1);
      const z = this.recurrentAct.fn(tf.add(xZ!, hZ!));
      const r = this.recurrentAct.fn(tf.add(xR!, hR!));
      const candidate = this.act.fn(tf.add(xH!, tf.mul(r, hH!)));
      const h = tf.add(tf.mul(z, hPrev), tf.mul(tf.sub(1, z), candidate));
      return [h, h];
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      units: this.units,
      activation: this.act.name,
      recurrentActivation: this.recurrentAct.name,
      useBias: this.useBias,
      resetAfter: true,
    };
  }
}

type GRUArgs = CellArgs & Omit<ConstructorParameters<typeof tf.RNN>[0], 'cell'>;

export class ModelhubGRU extends tf.RNN {
  static override readonly className = 'ModelhubGRU';

  constructor(args: GRUArgs) {
    // The cell gets the layer's settings but not its name, as in tfjs' own GRU.
    const { name: _name, inputShape: _inputShape, batchInputShape: _batchInputShape, ...cellArgs } = args;
    super({ ...args, cell: new ModelhubGRUCell(cellArgs) });
  }

  // Bidirectional rebuilds its backward half from getConfig(), which holds no `cell` entry.
  static override fromConfig<T extends tf.serialization.Serializable>(cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict): T {
    return new cls(config);
  }
}

tf.serialization.registerClass(ModelhubGRUCell);
tf.serialization.registerClass(ModelhubGRU);
