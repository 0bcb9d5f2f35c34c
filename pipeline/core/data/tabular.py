"""A CSV of numeric columns, standardized column by column; `to_original_units` undoes it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from pipeline.core.data.base import DatasetError, GanDataset


def tabular(path: str) -> GanDataset:
    file = Path(path)
    if not file.is_file():
        raise DatasetError(f"{file}: no such file (dataset.path of tabular)")
    try:
        table = pd.read_csv(file)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise DatasetError(f"{file}: not a readable CSV ({err})") from err
    for column in table.columns:
        if not pd.api.types.is_numeric_dtype(table[column]):
            raise DatasetError(f"{file}: column {column!r} is not numeric")
        if table[column].isna().any():
            raise DatasetError(f"{file}: column {column!r} has missing values")
    if len(table) < 2 or table.shape[1] < 1:
        raise DatasetError(f"{file}: need at least 2 rows and 1 column, got {table.shape}")
    values = torch.tensor(table.to_numpy(dtype="float64"), dtype=torch.float32)
    mean, std = values.mean(dim=0), values.std(dim=0)
    constant = [c for c, s in zip(table.columns, std.tolist(), strict=True) if s == 0]
    if constant:
        raise DatasetError(f"{file}: constant column(s) {constant} cannot be standardized")
    return GanDataset(
        "tabular", (values - mean) / std, torch.zeros(len(values), dtype=torch.int64), num_modes=0,
        columns=tuple(str(c) for c in table.columns), column_mean=mean, column_std=std,
    )
