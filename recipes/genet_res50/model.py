"""GE-ResNet-50 in Keras 3 (any backend): the seed's three variants by its `extra` / `mlp` flags.

- `extra=False`             -> GE-theta-minus: gather = global mean over H, W (no parameters)
- `extra=True, mlp=False`   -> GE-theta: gather = (conv3x3/2 + BN when the stage is >= 56 pixels) then a depth-wise
                               conv whose kernel covers the whole map (-> 1x1) + BN
- `extra=True, mlp=True`    -> GE-theta-plus: theta then a 1x1-conv MLP C -> C/16 (ReLU) -> C

Block (seed): conv1x1 C/4, BN, ReLU -> conv3x3 C/4 stride s, BN, ReLU -> conv1x1 C, BN = `out`; projection shortcut
(conv1x1 stride s + BN) when the stride or the width changes; `y = ReLU(out * sigmoid(gate(out)) + shortcut)`.
Convolutions have no bias (MindSpore's default). Weight decay goes, as in the seed's train.py, on every parameter
whose name has no beta/gamma/bias: every conv and depth-wise kernel and the classifier's kernel.
BN: the bottleneck and shortcut BNs are `nn.Conv2dBnAct`'s (momentum 0.997, eps 1e-5), the gather BNs are
`nn.BatchNorm2d`'s (momentum 0.9, eps 1e-5), the stem BN the seed's own (0.95, eps 1e-4). MindSpore's BN momentum
weights the OLD moving value (moving = momentum * moving + (1 - momentum) * batch), as Keras' does: same numbers.
Input: uint8 or float RGB pixels in 0..255, NHWC; the seed's Normalize (ImageNet mean/std x 255) is the first layer,
so the host pipeline ships uint8 and the device does the arithmetic.
"""

from __future__ import annotations

import keras
from keras import layers

IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
STAGES = (
    (3, 256, 1),
    (4, 512, 2),
    (6, 1024, 2),
    (3, 2048, 2),
)  # (blocks, out channels, stride)
BN_EPSILON = 1e-5  # MindSpore nn.BatchNorm2d and nn.Conv2dBnAct both default to eps 1e-5
BLOCK_BN_MOMENTUM = 0.997  # nn.Conv2dBnAct's default: bottleneck convs and the projection shortcut
GATHER_BN_MOMENTUM = 0.9  # nn.BatchNorm2d's default: the gather's BNs
STEM_BN_EPSILON, STEM_BN_MOMENTUM = 1e-4, 0.95  # the seed's stem BN (_bn)


def depthwise_he_uniform(seed: int | None = None) -> keras.initializers.Initializer:
    """The seed's HeUniform for a depth-wise kernel: bound sqrt(6 / fan_in) with fan_in = k*k.

    MindSpore reads fan_in off the weight shape (C, 1, k, k) = 1 * k * k. Keras' HeUniform on a depth-wise kernel
    (k, k, C, 1) counts fan_in = k * k * C, C times too large (kernels sqrt(C) times too small); its fan_out
    is k * k * 1, which is the seed's fan_in."""
    return keras.initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=seed)


def stage_spatial(input_size: int) -> tuple[int, ...]:
    """Feature-map side per stage: 56/28/14/7 at 224 (input / 4, 8, 16, 32, rounded up as SAME padding does)."""
    sizes, side = [], -(-input_size // 2)  # stem conv /2
    side = -(-side // 2)  # max-pool /2
    for _, _, stride in STAGES:
        side = -(-side // stride)
        sizes.append(side)
    return tuple(sizes)


class GENetLayers:
    """Layer factory holding the shared settings (dtype policy, weight decay, BN momenta)."""

    def __init__(
        self,
        weight_decay: float,
        bn_momentum: float,
        gather_bn_momentum: float,
        dtype: str | None,
    ) -> None:
        # MindSpore weight_decay d adds d*w to the gradient = Keras L2(d / 2) (RECIPES.md porting facts).
        self.reg = keras.regularizers.L2(weight_decay / 2) if weight_decay else None
        self.bn_momentum = bn_momentum
        self.gather_bn_momentum = gather_bn_momentum
        self.dtype = dtype

    def conv(
        self,
        filters: int,
        kernel: int,
        stride: int = 1,
        name: str = "",
        padding: str = "same",
    ) -> layers.Conv2D:
        return layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding=padding,
            use_bias=False,
            kernel_initializer=keras.initializers.HeUniform(),
            kernel_regularizer=self.reg,
            dtype=self.dtype,
            name=name,
        )

    def bn(
        self, name: str, momentum: float, epsilon: float = BN_EPSILON
    ) -> layers.BatchNormalization:
        return layers.BatchNormalization(
            epsilon=epsilon, momentum=momentum, dtype=self.dtype, name=name
        )

    def block_bn(self, name: str) -> layers.BatchNormalization:
        return self.bn(name, self.bn_momentum)

    def gather_bn(self, name: str) -> layers.BatchNormalization:
        return self.bn(name, self.gather_bn_momentum)


def ge_block(
    x,
    f: GENetLayers,
    channels: int,
    stride: int,
    spatial: int,
    extra: bool,
    mlp: bool,
    name: str,
):
    mid = channels // 4
    out = f.conv(mid, 1, name=f"{name}_conv1")(x)
    out = layers.ReLU(dtype=f.dtype, name=f"{name}_relu1")(f.block_bn(f"{name}_bn1")(out))
    out = f.conv(mid, 3, stride, name=f"{name}_conv2")(out)
    out = layers.ReLU(dtype=f.dtype, name=f"{name}_relu2")(f.block_bn(f"{name}_bn2")(out))
    out = f.block_bn(f"{name}_bn3")(f.conv(channels, 1, name=f"{name}_conv3")(out))

    if stride != 1 or x.shape[-1] != channels:
        shortcut = f.block_bn(f"{name}_down_bn")(
            f.conv(channels, 1, stride, name=f"{name}_down_conv")(x)
        )
    else:
        shortcut = x

    if not extra:  # theta-minus: parameter-free gather
        gate = layers.GlobalAveragePooling2D(
            keepdims=True, dtype=f.dtype, name=f"{name}_gather"
        )(out)
    else:
        gate, side = out, spatial
        if (
            spatial >= 56
        ):  # the seed halves large maps with a strided full conv before the depth-wise gather
            gate = f.gather_bn(f"{name}_gather_pre_bn")(
                f.conv(channels, 3, 2, name=f"{name}_gather_pre_conv")(gate)
            )
            side = -(-spatial // 2)
        gate = layers.DepthwiseConv2D(
            side,
            padding="valid",
            use_bias=False,
            depthwise_initializer=depthwise_he_uniform(),
            depthwise_regularizer=f.reg,
            dtype=f.dtype,
            name=f"{name}_gather_dw",
        )(gate)
        gate = f.gather_bn(f"{name}_gather_bn")(gate)
        if mlp:
            gate = layers.ReLU(dtype=f.dtype, name=f"{name}_mlp_relu")(
                f.conv(channels // 16, 1, name=f"{name}_mlp_fc1")(gate)
            )
            gate = f.conv(channels, 1, name=f"{name}_mlp_fc2")(gate)
    gate = layers.Activation("sigmoid", dtype=f.dtype, name=f"{name}_excite")(gate)
    y = layers.Add(dtype=f.dtype, name=f"{name}_add")(
        [layers.Multiply(dtype=f.dtype, name=f"{name}_scale")([out, gate]), shortcut]
    )
    return layers.ReLU(dtype=f.dtype, name=f"{name}_out")(y)


def build_genet(
    num_classes: int = 1000,
    input_size: int = 224,
    extra: bool = True,
    mlp: bool = True,
    weight_decay: float = 1e-4,
    bn_momentum: float = BLOCK_BN_MOMENTUM,
    gather_bn_momentum: float = GATHER_BN_MOMENTUM,
    dtype: str | None = None,
) -> keras.Model:
    """The seed's GENet (`GENet(mlp, extra)`); logits are float32 whatever the dtype policy."""
    f = GENetLayers(weight_decay, bn_momentum, gather_bn_momentum, dtype)
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Normalization(
        mean=IMAGENET_MEAN,
        variance=[s * s for s in IMAGENET_STD],
        dtype=dtype,
        name="normalize",
    )(inputs)
    x = f.conv(64, 7, 2, name="stem_conv")(x)
    x = layers.ReLU(dtype=dtype, name="stem_relu")(
        f.bn("stem_bn", STEM_BN_MOMENTUM, STEM_BN_EPSILON)(x)
    )
    x = layers.MaxPooling2D(3, 2, padding="same", dtype=dtype, name="stem_pool")(x)
    for s, ((blocks, channels, stride), spatial) in enumerate(
        zip(STAGES, stage_spatial(input_size), strict=True)
    ):
        for b in range(blocks):
            x = ge_block(
                x,
                f,
                channels,
                stride if b == 0 else 1,
                spatial,
                extra,
                mlp,
                name=f"stage{s + 1}_block{b + 1}",
            )
    x = layers.GlobalAveragePooling2D(dtype=dtype, name="pool")(x)
    logits = layers.Dense(
        num_classes,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.01),
        kernel_regularizer=f.reg,  # the seed decays the classifier's weight too (not its bias)
        dtype=dtype,
        name="fc",
    )(x)
    logits = layers.Activation("linear", dtype="float32", name="logits")(logits)
    name = {
        (False, False): "genet_theta_minus",
        (False, True): "genet_theta_minus",
        (True, False): "genet_theta",
        (True, True): "genet_theta_plus",
    }[(extra, mlp)]
    return keras.Model(inputs, logits, name=name)


def expected_parameter_count(
    num_classes: int = 1000, input_size: int = 224, extra: bool = True, mlp: bool = True
) -> int:
    """Every weight (BN moving statistics included, as Keras counts) from the architecture alone, no Keras."""

    def conv(cin: int, cout: int, k: int) -> int:
        return cin * cout * k * k

    def bn(c: int) -> int:
        return 4 * c  # gamma, beta, moving mean, moving variance

    total = conv(3, 64, 7) + bn(64)  # stem (Normalization's constants are not weights)
    cin = 64
    for (blocks, channels, _stride), spatial in zip(
        STAGES, stage_spatial(input_size), strict=True
    ):
        for b in range(blocks):
            mid = channels // 4
            total += (
                conv(cin, mid, 1)
                + bn(mid)
                + conv(mid, mid, 3)
                + bn(mid)
                + conv(mid, channels, 1)
                + bn(channels)
            )
            if b == 0:
                total += conv(cin, channels, 1) + bn(channels)
            if extra:
                side = spatial
                if spatial >= 56:
                    total += conv(channels, channels, 3) + bn(channels)
                    side = -(-spatial // 2)
                total += channels * side * side + bn(channels)
                if mlp:
                    total += 2 * channels * (channels // 16)
            cin = channels
    return total + 2048 * num_classes + num_classes
