"""Repair desk tables. Customer name, phone and address only as ciphertext; the phone also as a keyed hash."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import UTC, Base, created, utcnow


class RepairDistrict(Base):
    __tablename__ = "repair_districts"
    __table_args__ = (UniqueConstraint("merchant_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = created()


class RepairTechnician(Base):
    __tablename__ = "repair_technicians"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    skills: Mapped[list] = mapped_column(JSON)
    shift_start: Mapped[str] = mapped_column(String(5))
    shift_end: Mapped[str] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64))
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    max_jobs: Mapped[int] = mapped_column(Integer, default=3)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = created()


class RepairCoverage(Base):
    """A technician covers a district, with an estimated travel time there."""

    __tablename__ = "repair_coverage"
    __table_args__ = (UniqueConstraint("technician_id", "district_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("repair_technicians.id"), index=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("repair_districts.id"), index=True)
    travel_minutes: Mapped[int] = mapped_column(Integer)


class RepairRequest(Base):
    __tablename__ = "repair_requests"
    __table_args__ = (Index("ix_repair_requests_merchant_state", "merchant_id", "state"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    buyer_id: Mapped[int | None] = mapped_column(ForeignKey("buyers.id"), index=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("repair_districts.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    order_ref: Mapped[str | None] = mapped_column(String(120))
    skill: Mapped[str | None] = mapped_column(String(40))
    fault: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    customer_name_enc: Mapped[str] = mapped_column(Text)
    phone_enc: Mapped[str] = mapped_column(Text)
    phone_hash: Mapped[str] = mapped_column(String(64), index=True)
    address_enc: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("repair_technicians.id"), index=True)
    excluded: Mapped[list] = mapped_column(JSON)  # technicians who declined or let the acceptance window pass
    dispatch_note: Mapped[dict | None] = mapped_column(JSON)  # the last dispatch decision and its explanation
    resolution: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = created()
    due_at: Mapped[dt.datetime] = mapped_column(UTC, index=True)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTC)
    accept_by: Mapped[dt.datetime | None] = mapped_column(UTC)
    eta_at: Mapped[dt.datetime | None] = mapped_column(UTC)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTC)
    on_site_at: Mapped[dt.datetime | None] = mapped_column(UTC)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTC)
    updated_at: Mapped[dt.datetime] = mapped_column(UTC, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    __mapper_args__ = {"version_id_col": version}

    def __repr__(self):  # never print personal data
        return f"<RepairRequest {self.id} {self.state}>"


class RepairEvent(Base):
    """Links a request to its entries in the audit chain (the entry's hashed data names the request too)."""

    __tablename__ = "repair_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("repair_requests.id"), index=True)
    audit_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
