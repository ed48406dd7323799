from django import forms

from apps.marketdata.choices import AlertCondition


class WatchlistForm(forms.Form):
    name = forms.CharField(max_length=60, widget=forms.TextInput(attrs={"placeholder": "Name"}))


class SymbolForm(forms.Form):
    symbol = forms.CharField(
        max_length=16, widget=forms.TextInput(attrs={"placeholder": "Symbol, e.g. ACME"})
    )


class PriceAlertForm(forms.Form):
    symbol = forms.CharField(max_length=16)
    condition = forms.ChoiceField(choices=AlertCondition.choices)
    threshold = forms.DecimalField(
        max_digits=20,
        decimal_places=8,
        min_value=0,
        help_text="A price for above/below; a percentage for a move.",
    )
    base_price = forms.DecimalField(
        max_digits=20,
        decimal_places=8,
        required=False,
        help_text="For a move: the price to measure from (default: the last price).",
    )
    note = forms.CharField(max_length=200, required=False)
