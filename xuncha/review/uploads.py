"""Pictures uploaded to the service (after pictures from dispatch, reference pictures from workers)."""

from __future__ import annotations

import cv2
import numpy as np
from fastapi import HTTPException, UploadFile

from xuncha.review.bodylimit import MAX_PICTURE


def read_picture(upload: UploadFile) -> tuple[bytes, np.ndarray]:
    """The upload's bytes and decoded BGR image; 413 over MAX_PICTURE, 422 when it is no picture."""
    data = upload.file.read(MAX_PICTURE + 1)
    if len(data) > MAX_PICTURE:
        raise HTTPException(413, "图片过大（上限 20 MB）")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise HTTPException(422, "图片无法解码")
    return data, image
