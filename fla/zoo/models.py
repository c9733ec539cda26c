"""CIFAR architectures as Keras 3 models.

- ResNet-(6n+2) of He et al. (CVPR 2016, Sec. 4.2): a 3x3 convolution with 16 filters, then three
  stages of n basic blocks (two 3x3 convolutions each) with 16, 32 and 64 filters on 32x32, 16x16
  and 8x8 maps, global average pooling and a dense classifier; identity shortcuts, and option A
  where the shape changes (the input subsampled by 2 and zero-padded with the new channels). n = 3,
  5, 7, 9 give ResNet-20/32/44/56 with 0.27M, 0.46M, 0.66M and 0.85M parameters (their Table 6).
- DenseNet of Huang et al. (CVPR 2017, Sec. 3-4): three dense blocks joined by transitions (1x1
  convolution, 2x2 average pooling), each layer BN-ReLU-Conv producing k = 12 feature maps.
  DenseNet-40 (k = 12): 12 BN-ReLU-Conv3x3 layers a block, 16 initial channels, 1.0M parameters.
  DenseNet-BC-100 (k = 12): 16 bottleneck layers a block (BN-ReLU-Conv1x1 with 4k maps, then
  BN-ReLU-Conv3x3), compression 0.5, 2k initial channels, 0.8M parameters (their Table 2).

Convolutions carry no bias (BatchNorm follows); weight decay is an L2 penalty of ``weight_decay /
2`` ||w||^2 on kernels, so that its gradient is weight_decay * w as in the papers.
"""

from __future__ import annotations


def layers_and_regularizer(weight_decay: float):
    """Keras' layers and the weight decay as an L2 penalty of ``weight_decay / 2`` ||w||^2 on
    kernels, so that its gradient is weight_decay * w as in the papers.

    Args:
        weight_decay: the papers' weight decay.

    Returns:
        (keras.layers, the regulariser or None).
    """
    import keras

    return keras.layers, keras.regularizers.L2(weight_decay / 2) if weight_decay else None


def conv(x, filters, kernel, *, stride, reg, name):
    """A bias-free "same" convolution with He initialisation.

    Args:
        x: the input tensor.
        filters: the output channels.
        kernel: the kernel size.
        stride: the stride.
        reg: the kernel regulariser.
        name: the layer's name.

    Returns:
        The output tensor.
    """
    import keras

    return keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=reg,
        name=name,
    )(x)


def resnet(n: int, classes: int = 10, weight_decay: float = 1e-4, *, name: str | None = None):
    """ResNet-(6n+2) of He et al. 2016 for 32x32x3 inputs, option A (zero-padded) shortcuts.

    Args:
        n: blocks per stage (3: ResNet-20, 5: -32, 7: -44, 9: -56).
        classes: the classes.
        weight_decay: the weight decay.
        name: the model's name (default ``resnet{6n+2}``).

    Returns:
        The Keras model.
    """
    import keras
    from keras import ops

    L, reg = layers_and_regularizer(weight_decay)
    inputs = keras.Input((32, 32, 3))
    x = conv(inputs, 16, 3, stride=1, reg=reg, name="conv0")
    x = L.ReLU()(L.BatchNormalization(name="bn0")(x))
    channels = 16
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(n):
            stride = 2 if stage > 0 and block == 0 else 1
            tag = f"s{stage}b{block}"
            y = conv(x, filters, 3, stride=stride, reg=reg, name=f"{tag}_conv1")
            y = L.ReLU()(L.BatchNormalization(name=f"{tag}_bn1")(y))
            y = L.BatchNormalization(name=f"{tag}_bn2")(
                conv(y, filters, 3, stride=1, reg=reg, name=f"{tag}_conv2")
            )
            shortcut = x
            if stride != 1 or channels != filters:  # option A: subsample, zero-pad the new channels
                extra = filters - channels
                shortcut = L.Lambda(
                    lambda t, e=extra: ops.pad(
                        t[:, ::2, ::2, :], [[0, 0], [0, 0], [0, 0], [e // 2, e - e // 2]]
                    ),
                    name=f"{tag}_shortcut",
                )(x)
            x = L.ReLU()(L.Add()([y, shortcut]))
            channels = filters
    x = L.GlobalAveragePooling2D()(x)
    outputs = L.Dense(classes, kernel_regularizer=reg, name="classifier")(x)
    return keras.Model(inputs, outputs, name=name or f"resnet{6 * n + 2}")


def densenet(
    depth: int,
    growth: int = 12,
    bottleneck: bool = False,
    *,
    compression: float = 1.0,
    classes: int = 10,
    weight_decay: float = 1e-4,
    name: str | None = None,
):
    """DenseNet (Huang et al. 2017), or DenseNet-BC with ``bottleneck`` and ``compression`` 0.5, for
    32x32x3 inputs.

    Args:
        depth: the layers (40, 100, ...).
        growth: the growth rate k.
        bottleneck: 1x1 bottleneck layers (BC).
        compression: the transition layers' compression.
        classes: the classes.
        weight_decay: the weight decay.
        name: the model's name.

    Returns:
        The Keras model.
    """
    import keras

    L, reg = layers_and_regularizer(weight_decay)
    per_block = (depth - 4) // (6 if bottleneck else 3)
    channels = 2 * growth if bottleneck else 16
    inputs = keras.Input((32, 32, 3))
    x = conv(inputs, channels, 3, stride=1, reg=reg, name="conv0")
    for block in range(3):
        for layer in range(per_block):
            tag = f"d{block}l{layer}"
            y = x
            if bottleneck:
                y = conv(
                    L.ReLU()(L.BatchNormalization(name=f"{tag}_bn0")(y)),
                    4 * growth,
                    1,
                    stride=1,
                    reg=reg,
                    name=f"{tag}_conv0",
                )
            y = conv(
                L.ReLU()(L.BatchNormalization(name=f"{tag}_bn1")(y)),
                growth,
                3,
                stride=1,
                reg=reg,
                name=f"{tag}_conv1",
            )
            x = L.Concatenate()([x, y])
            channels += growth
        if block < 2:
            channels = int(channels * compression)
            x = conv(
                L.ReLU()(L.BatchNormalization(name=f"t{block}_bn")(x)),
                channels,
                1,
                stride=1,
                reg=reg,
                name=f"t{block}_conv",
            )
            x = L.AveragePooling2D(2)(x)
    x = L.GlobalAveragePooling2D()(L.ReLU()(L.BatchNormalization(name="bn_final")(x)))
    outputs = L.Dense(classes, kernel_regularizer=reg, name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


ARCHITECTURES = {
    "resnet20": lambda classes: resnet(3, classes),
    "resnet32": lambda classes: resnet(5, classes),
    "resnet44": lambda classes: resnet(7, classes),
    "resnet56": lambda classes: resnet(9, classes),
    "densenet40": lambda classes: densenet(40, 12, classes=classes, name="densenet40_k12"),
    "densenet_bc100": lambda classes: densenet(
        100, 12, bottleneck=True, compression=0.5, classes=classes, name="densenet_bc100_k12"
    ),
}
PAPER_PARAMS = {
    "resnet20": 0.27e6,
    "resnet32": 0.46e6,
    "resnet44": 0.66e6,
    "resnet56": 0.85e6,
    "densenet40": 1.0e6,
    "densenet_bc100": 0.8e6,
}  # He et al. Table 6; Huang et al. Table 2


def build(arch: str, classes: int = 10):
    """An architecture of ``ARCHITECTURES`` by name.

    Args:
        arch: ``resnet20``, ``resnet32``, ``resnet44``, ``resnet56``, ``densenet40``,
            ``densenet_bc100``.
        classes: the classes.

    Returns:
        The Keras model.

    Raises:
        ConfigError: an unknown architecture.
    """
    from fla.base.errors import ConfigError

    if arch not in ARCHITECTURES:
        raise ConfigError(
            f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}"
        )
    return ARCHITECTURES[arch](classes)


def trainable_params(model) -> int:
    """A model's trainable parameters.

    Args:
        model: the Keras model.

    Returns:
        D.
    """
    return int(sum(int(v.numpy().size) for v in model.trainable_variables))
