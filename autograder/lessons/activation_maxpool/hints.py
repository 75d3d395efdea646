"""The lesson's own student-facing sentences (Spanish): hints for the mistakes its families recognise."""

from __future__ import annotations

KERNEL_NOT_ANSWERED = "Tu núcleo Gx todavía no está implementado (sigue valiendo None): sustituye None por tu tensor de 3×3."
HINT_SHAPE_RELU = "ReLU se aplica elemento a elemento: la salida tiene exactamente la forma de la entrada."
HINT_SHAPE_POOL = (
    "la salida mide floor((H - kh) / sh) + 1 por floor((W - kw) / sw) + 1, sin relleno; "
    "las dimensiones de lote y canal no cambian."
)
HINT_STRIDE_NONE = "cuando stride es None, el paso es igual a kernel_size (como nn.MaxPool2d(k))."
HINT_STRIDE_IGNORED = "usa el paso (stride) que recibe la función; la ventana avanza sh filas y sw columnas."
HINT_PAIR = "kernel_size y stride pueden ser un entero o una pareja (alto, ancho): trata cada dimensión por separado."
HINT_MAX_AT_ZERO = (
    "con entradas negativas el máximo es negativo: no empieces el máximo en 0, "
    "empieza con el primer elemento de la ventana (o con -infinito)."
)
HINT_LEAKY = "ReLU devuelve exactamente 0 para las entradas negativas, no una fracción de ellas."
HINT_RELU_VALUES = "ReLU(z) = max(z, 0): los negativos pasan a 0 y el resto no cambia."
HINT_POOL_VALUES = "cada salida es el máximo de su ventana de kh × kw elementos."
HINT_KERNEL_SIGN = "tu núcleo tiene el signo cambiado: la primera columna es positiva (1, 2, 1) y la última negativa."
HINT_KERNEL_TRANSPOSED = (
    "tu núcleo está traspuesto: ese es el núcleo de Sobel vertical (Gy). "
    "Gx tiene las columnas (1, 2, 1), (0, 0, 0) y (-1, -2, -1)."
)
HINT_KERNEL_VALUES = "Gx = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]: pesos 1, 2, 1 a la izquierda y -1, -2, -1 a la derecha."
HINT_KERNEL_FORM = "Gx debe ser un torch.Tensor de forma (3, 3) con números de coma flotante (decimales, por ejemplo 1.0)."
