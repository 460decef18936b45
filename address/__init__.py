"""Standard addresses (标准地址): normalize, parse, geocode, reverse, codes, QR, lifecycle."""

from address.errors import AddressError, AddressNotFound, InvalidAddress
from address.normalize import normalize

__all__ = ["AddressError", "AddressNotFound", "InvalidAddress", "normalize"]
