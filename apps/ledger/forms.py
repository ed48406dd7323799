from django import forms


class WithdrawalForm(forms.Form):
    amount = forms.DecimalField(
        min_value=0,
        max_digits=20,
        decimal_places=8,
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    destination = forms.CharField(label="To bank account (IBAN)", max_length=64, required=False)
    otp_token = forms.CharField(
        label="One-time password",
        max_length=16,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    # A fresh key per rendered form: submitting the same form twice requests once.
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
