from django import forms

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # eurofxref-hist.csv is about 1.5 MB


class EcbUploadForm(forms.Form):
    """An ECB reference-rate CSV (eurofxref-hist.csv or eurofxref.csv layout)."""

    file = forms.FileField(label="ECB reference-rate CSV", help_text="Date,USD,JPY,... (base EUR); N/A cells are skipped.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
        raw = upload.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise forms.ValidationError("The file is not UTF-8 text.") from None
        if "\x00" in text:
            raise forms.ValidationError("The file contains NUL characters.")
        return text
