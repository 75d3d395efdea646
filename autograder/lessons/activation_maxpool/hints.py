"""The lesson's own student-facing sentences (Spanish): hints that point at the cause of a mistake, never at the answer."""

from __future__ import annotations

KERNEL_NOT_ANSWERED = "Tu núcleo Gx todavía no está implementado (sigue valiendo None): sustituye None por tu tensor de 3×3."
HINT_SHAPE_RELU = "ReLU se aplica elemento a elemento: la salida tiene exactamente la forma de la entrada."
HINT_SHAPE_POOL = (
    "sin relleno, la ventana solo se coloca donde cabe entera y avanza el paso cada vez: cuenta cuántas "
    "posiciones caben a lo alto y a lo ancho. Las dimensiones de lote y canal no cambian."
)
HINT_STRIDE_NONE = "cuando stride es None, el paso es igual a kernel_size (como nn.MaxPool2d(k))."
HINT_STRIDE_IGNORED = "usa el paso (stride) que recibe la función; la ventana avanza sh filas y sw columnas."
HINT_PAIR = "kernel_size y stride pueden ser un entero o una pareja (alto, ancho): trata cada dimensión por separado."
HINT_MAX_AT_ZERO = (
    "con entradas negativas el máximo es negativo: no empieces el máximo en 0, "
    "empieza con el primer elemento de la ventana (o con -infinito)."
)
HINT_OFF_BY_ONE = (
    "a tu salida le falta la última fila o columna de ventanas: la ventana que termina justo en el borde "
    "también cuenta. Revisa cómo calculas el número de posiciones (o el final de tu range)."
)
HINT_CHW = (
    "la entrada puede tener forma (N, C, H, W) o (C, H, W), y tu función solo funciona con 4 dimensiones: "
    "trabaja sobre las dos últimas (alto y ancho) sin suponer cuántas hay delante."
)
HINT_MAX_OVER_BATCH = (
    "cada imagen del lote y cada canal tienen su propio máximo en cada ventana, pero tu máximo los mezcla: "
    "reduce solo las dimensiones de la ventana (alto y ancho)."
)
HINT_MAX_WITH_DIM = (
    "torch.max(x, dim) (y x.max(dim)) no compara elemento a elemento: reduce la dimensión dim y devuelve "
    "una pareja (valores, índices), no un tensor."
)
HINT_TENSOR_AS_BOOL = (
    "una comparación como z > 0 da un tensor de booleanos, uno por elemento; if, and, or y la función max "
    "de Python necesitan un solo valor de verdad. Decide elemento a elemento con operaciones de tensores."
)
HINT_LEAKY = "ReLU devuelve exactamente 0 para las entradas negativas, no una fracción de ellas."
HINT_RELU_VALUES = "ReLU(z) = max(z, 0): los negativos pasan a 0 y el resto no cambia."
HINT_POOL_VALUES = "cada salida es el máximo de su ventana de kh × kw elementos."
HINT_KERNEL_SIGN = (
    "tu núcleo tiene el signo cambiado: responde con el signo contrario a un cambio de izquierda a derecha. "
    "Revisa en qué lado del Gx de la lección van los pesos positivos."
)
HINT_KERNEL_TRANSPOSED = (
    "tu núcleo está traspuesto: responde a los cambios de arriba a abajo (es el núcleo de Sobel vertical, Gy). "
    "Gx mide los cambios de izquierda a derecha, así que sus pesos cambian de una columna a otra, no de una fila a otra."
)
HINT_KERNEL_VALUES = (
    "Gx mide cuánto cambia la imagen de izquierda a derecha: compara la columna izquierda de la ventana con la "
    "derecha (pesos opuestos), da más peso a la fila central y no mira la columna central. Repasa el núcleo de "
    "Sobel horizontal de la lección."
)
HINT_KERNEL_FORM = "Gx debe ser un torch.Tensor de forma (3, 3) con números de coma flotante (decimales, por ejemplo 1.0)."
HINT_KERNEL_INTEGERS = (
    "tu núcleo tiene números enteros: torch.tensor deduce el tipo de dato de los números que escribes, "
    "y una convolución trabaja con números de coma flotante."
)
# What else is wrong with a kernel that is neither flipped nor transposed (the notebook's visible test says the same).
HINT_KERNEL_MIDDLE = "la columna central no cuenta: Gx compara solo la columna de la izquierda con la de la derecha."
HINT_KERNEL_MIRROR = "la columna de la derecha lleva los mismos pesos que la de la izquierda, con el signo cambiado."
HINT_KERNEL_ROWS = (
    "la fila central pesa el doble que la superior y la inferior, que pesan lo mismo "
    "(el suavizado vertical del filtro de Sobel)."
)
HINT_KERNEL_SCALE = (
    "revisa la escala: la forma es la buena, pero los pesos no son los enteros más pequeños que cumplen el enunciado."
)
