"""Billing: invoice lines and amounts, invoice PDFs, payment and batch CSV imports."""
