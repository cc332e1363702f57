"""Counting the relevance filter's drop decisions against labels: precision, recall, relevant images lost."""

from dataclasses import dataclass


@dataclass
class DropCounts:
    """Confusion counts of the drop decision (positive: dropped / should be dropped)."""

    dropped_right: int = 0
    dropped_wrongly: int = 0
    missed: int = 0
    kept_right: int = 0

    def add(self, *, dropped: bool, should_drop: bool) -> None:
        if dropped:
            if should_drop:
                self.dropped_right += 1
            else:
                self.dropped_wrongly += 1
        elif should_drop:
            self.missed += 1
        else:
            self.kept_right += 1

    @property
    def images(self) -> int:
        return self.dropped_right + self.dropped_wrongly + self.missed + self.kept_right

    @property
    def precision(self) -> float:
        dropped = self.dropped_right + self.dropped_wrongly
        return self.dropped_right / dropped if dropped else float("nan")

    @property
    def recall(self) -> float:
        to_drop = self.dropped_right + self.missed
        return self.dropped_right / to_drop if to_drop else float("nan")

    @property
    def relevant_lost(self) -> float:
        """Share of the images that should be kept which were dropped: the cost the filter must keep low."""
        relevant = self.dropped_wrongly + self.kept_right
        return self.dropped_wrongly / relevant if relevant else float("nan")
