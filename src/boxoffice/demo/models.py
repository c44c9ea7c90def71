"""The record that the demo data set was loaded: a row of its own, which no API call edits,
so editing or deleting demo data never makes `serve --demo` load it a second time."""

from datetime import datetime

from sqlalchemy import DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from boxoffice.db.base import Base


class DataSetLoad(Base):
    __tablename__ = "data_set_loads"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    loaded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
