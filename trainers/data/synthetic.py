"""Procedural face-like images: the offline default dataset of the demo and the tests.

Rendered in vectorised numpy, deterministic from the seed, simple enough that a tiny GAN learns them on CPU.
"""

from __future__ import annotations

import numpy as np

# Bump this when the rendered pixels change, so old cache entries are not reused.
SYNTHETIC_VERSION = "synthetic-faces/v1"

_CHUNK = 256  # images rendered per vectorised batch (bounds the float32 working set)

_SKIN = np.array(
    [
        [0.97, 0.82, 0.72],
        [0.93, 0.74, 0.61],
        [0.87, 0.66, 0.52],
        [0.78, 0.57, 0.42],
        [0.62, 0.44, 0.31],
        [0.46, 0.31, 0.22],
    ]
)
_HAIR = np.array(
    [
        [0.07, 0.06, 0.05],  # black
        [0.24, 0.15, 0.09],  # dark brown
        [0.43, 0.29, 0.17],  # brown
        [0.86, 0.72, 0.46],  # blond
        [0.56, 0.26, 0.13],  # auburn
        [0.66, 0.64, 0.61],  # grey
    ]
)
_IRIS = np.array([[0.22, 0.13, 0.07], [0.35, 0.22, 0.12], [0.25, 0.38, 0.52], [0.28, 0.40, 0.25]])


def _soft_ellipse(
    u: np.ndarray, v: np.ndarray, cu: np.ndarray, cv: np.ndarray, au: np.ndarray, av: np.ndarray, px: float
) -> np.ndarray:
    """Coverage in [0, 1] of an axis-aligned ellipse, with a one-pixel linear edge (cheap antialiasing)."""
    q = np.sqrt(((u - cu) / au) ** 2 + ((v - cv) / av) ** 2)
    return np.clip(0.5 - (q - 1.0) * np.minimum(au, av) / px, 0.0, 1.0)


def _over(img: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Composite ``colour`` (B,3) or (B,H,W,3) over ``img`` (B,H,W,3) with coverage ``alpha`` (B,H,W)."""
    if colour.ndim == 2:
        colour = colour[:, None, None, :]
    img += alpha[..., None] * (colour.astype(np.float32) - img)
    return img


def synthetic_faces(count: int, image_size: int = 32, seed: int = 0) -> np.ndarray:
    """Render ``count`` procedural face-like images as a ``(count, S, S, 3)`` uint8 array.

    Each image is a tilted skin-toned face ellipse with shading, hair (short or long, with a
    hairline), eyebrows, eyes with irises, a nose shadow and a mouth that may smile or show teeth,
    over shoulders and a two-colour gradient background. Colours come from small palettes with
    jitter, so the set has the kind of variety (skin, hair, background, pose) a GAN must model,
    while staying simple enough for a tiny one to learn on CPU in minutes. Everything is drawn
    from ``np.random.default_rng(seed)`` up front, so the output depends only on the arguments.
    """
    rng = np.random.default_rng(seed)
    n = count

    def u(lo: float, hi: float, shape: tuple[int, ...] = ()) -> np.ndarray:
        return rng.uniform(lo, hi, size=(n, *shape))

    def pick(palette: np.ndarray, jitter: float) -> np.ndarray:
        base = palette[rng.integers(0, len(palette), size=n)]
        return np.clip(base + rng.normal(0.0, jitter, size=(n, 3)), 0.0, 1.0)

    p: dict[str, np.ndarray] = {
        "bg_top": np.clip(0.5 * u(0.1, 0.95, (3,)) + 0.5 * u(0.2, 0.9)[:, None], 0, 1),
        "bg_mix": u(0.6, 1.1),
        "cloth": u(0.05, 0.9, (3,)),
        "skin": pick(_SKIN, 0.03),
        "hair": pick(_HAIR, 0.04),
        "iris": pick(_IRIS, 0.03),
        "fx": rng.normal(0.0, 0.05, n),
        "fy": 0.02 + rng.normal(0.0, 0.04, n),
        "fa": u(0.36, 0.45),
        "fb": u(0.47, 0.57),
        "tilt": rng.normal(0.0, 0.09, n),
        "hair_w": u(1.08, 1.3),
        "hair_h": u(1.0, 1.18),
        "long": (rng.random(n) < 0.55).astype(float) * u(0.45, 0.95),
        "hairline": u(0.3, 0.62),
        "hair_curve": u(0.6, 2.0),
        "part": rng.normal(0.0, 0.08, n),
        "eye_dx": u(0.4, 0.52),
        "eye_y": u(-0.2, -0.06),
        "eye_a": u(0.075, 0.105),
        "eye_open": u(0.45, 0.75),
        "brow": u(0.09, 0.14),
        "mouth_y": u(0.46, 0.6),
        "mouth_w": u(0.12, 0.2),
        "mouth_h": u(0.025, 0.055),
        "smile": u(-0.3, 1.2),
        "teeth": (rng.random(n) < 0.4).astype(float),
        "light": u(0.85, 1.12),
        "light_dir": u(-0.25, 0.25),
    }
    p["bg_bottom"] = np.clip(p["bg_top"] * p["bg_mix"][:, None] + rng.normal(0, 0.08, (n, 3)), 0, 1)
    out = np.empty((n, image_size, image_size, 3), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        chunk = {k: v[start:stop] for k, v in p.items()}
        out[start:stop] = _render_faces(chunk, image_size)
    return out


def _render_faces(p: dict[str, np.ndarray], size: int) -> np.ndarray:
    """Draw one chunk of faces from per-image parameters; coordinates span [-1, 1], y pointing down."""
    p = {k: v.astype(np.float32) for k, v in p.items()}  # float32 halves the work of float64
    px = 2.0 / size
    axis = ((np.arange(size) + 0.5) * px - 1.0).astype(np.float32)
    x = axis[None, None, :]
    y = axis[None, :, None]

    def col(name: str) -> np.ndarray:
        return p[name][:, None, None]

    # face frame: rotate about the face centre so the whole head tilts together
    c, s = np.cos(col("tilt")), np.sin(col("tilt"))
    dx, dy = x - col("fx"), y - col("fy")
    fu = c * dx + s * dy
    fv = -s * dx + c * dy
    fa, fb = col("fa"), col("fb")
    zero = np.zeros_like(fa)

    t = (y + 1.0) / 2.0
    img = p["bg_top"][:, None, None, :] * (1 - t[..., None]) + p["bg_bottom"][:, None, None, :] * t[..., None]
    img = np.broadcast_to(img, (len(fa), size, size, 3)).astype(np.float32)

    # shoulders and neck
    shoulders = _soft_ellipse(x, y, col("fx") * 0.5, zero + 1.2, zero + 0.85, zero + 0.42, px)
    img = _over(img, shoulders, p["cloth"])

    # hair behind the head: a cap plus, for long hair, a lower mass down to the shoulders
    cap = _soft_ellipse(fu, fv, zero, -fb * 0.12, fa * col("hair_w"), fb * col("hair_h"), px)
    long_len = col("long")
    lower = _soft_ellipse(
        fu, fv, zero, zero + 0.25 * long_len, fa * col("hair_w") * 1.02, fb * long_len + 1e-3, px
    )
    hair_back = np.maximum(cap, lower * (long_len > 0))
    img = _over(img, hair_back, p["hair"] * 0.85)
    neck = np.clip(0.5 - (np.abs(fu) - fa * 0.42) / px, 0, 1) * (fv > 0) * (fv < fb + 0.45)
    img = _over(img, neck, p["skin"] * 0.8)

    # face with simple shading (darker towards the rim, lit from one side)
    face = _soft_ellipse(fu, fv, zero, zero, fa, fb, px)
    r2 = (fu / fa) ** 2 + (fv / fb) ** 2
    shade = np.clip(1.05 - 0.25 * r2 + col("light_dir") * fu, 0.6, 1.15)
    img = _over(img, face, p["skin"][:, None, None, :] * shade[..., None])

    # fringe: hair over the top of the face above a curved, possibly off-centre hairline
    hairline = -fb * col("hairline") + col("hair_curve") * (fu - col("part")) ** 2 * 0.5
    fringe = face * np.clip(0.5 + (hairline - fv) / px, 0, 1)
    img = _over(img, fringe, p["hair"])

    # eyebrows, eyes (white + iris), nose shadow
    ex, ey, ea = fa * col("eye_dx"), col("eye_y"), col("eye_a")
    eb = ea * col("eye_open")
    for side in (-1.0, 1.0):
        brow = _soft_ellipse(fu, fv, side * ex, ey - col("brow"), ea * 1.2, zero + 0.022, px)
        img = _over(img, brow, p["hair"] * 0.7)
        white = _soft_ellipse(fu, fv, side * ex, ey, ea, eb, px)
        img = _over(img, white, np.full_like(p["skin"], 0.93))
        iris = _soft_ellipse(fu, fv, side * ex, ey, eb * 0.95, eb * 0.95, px) * white
        img = _over(img, iris, p["iris"])
    nose = _soft_ellipse(fu, fv, zero + 0.03, zero + 0.12, zero + 0.06, zero + 0.13, px) * 0.35
    img = _over(img, nose, p["skin"] * 0.7)

    # mouth: a curved ellipse (smile bends its ends up), lips darker and redder than the skin
    mv = fv - col("mouth_y") * fb + col("smile") * fu**2
    mw, mh = col("mouth_w"), col("mouth_h") * (1 + col("teeth"))
    mouth = _soft_ellipse(fu, mv, zero, zero, mw, mh, px)
    img = _over(img, mouth, p["skin"] * np.array([0.8, 0.42, 0.42]))
    teeth = _soft_ellipse(fu, mv, zero, zero, mw * 0.8, mh * 0.5, px) * col("teeth")
    img = _over(img, teeth, np.full_like(p["skin"], 0.92))

    img *= p["light"][:, None, None, None] * 255.0
    img += 0.5
    return np.clip(img, 0, 255).astype(np.uint8)
