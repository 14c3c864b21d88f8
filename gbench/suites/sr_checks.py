"""The paper's qualitative findings, checked on the `sr` suite's records.

Ledig et al. 2017 (Table 2, Fig. 2 and Sec. 3.4): SRResNet beats bicubic
interpolation on PSNR and SSIM; SRGAN gives up PSNR against SRResNet in
exchange for high-frequency detail and perceptual quality. Each check is
one leaderboard line that states the measured difference and whether the
finding holds on these records.
"""

from __future__ import annotations

from gbench.claims import mean_value as _mean
from gbench.claims import section
from gbench.claims import verdict as _verdict

MODELS = ("bicubic", "srresnet", "srgan")  # the rows the findings compare


def paper_checks(records) -> list[str]:
    """One markdown bullet per finding whose models were scored in ``records`` (one table group)."""
    p, s, hf, lp = ({m: _mean(records, m, metric) for m in MODELS} for metric in ("psnr", "ssim", "hf_ratio", "lpips"))
    lines = []
    if p["srresnet"] is not None and p["bicubic"] is not None:
        ok = p["srresnet"] > p["bicubic"] and s["srresnet"] > s["bicubic"]
        lines.append(f"- SRResNet beats bicubic on PSNR/SSIM: {p['srresnet'] - p['bicubic']:+.2f} dB, "
                     f"SSIM {s['srresnet'] - s['bicubic']:+.4f} — {_verdict(ok)}.")
    if p["srgan"] is None or p["srresnet"] is None:
        return lines
    lines.append(f"- SRGAN scores lower PSNR than SRResNet: {p['srgan'] - p['srresnet']:+.2f} dB — "
                 f"{_verdict(p['srgan'] < p['srresnet'])}.")
    if hf["srgan"] is not None and hf["srresnet"] is not None:
        # "more detail" means closer to HR's own high-frequency energy (ratio 1), not simply more energy
        lines.append(f"- SRGAN keeps more high-frequency detail than SRResNet (HF energy SR/HR): "
                     f"{hf['srgan']:.3f} vs {hf['srresnet']:.3f} — "
                     f"{_verdict(abs(1 - hf['srgan']) < abs(1 - hf['srresnet']))}.")
    if lp["srgan"] is not None and lp["srresnet"] is not None:
        lines.append(f"- SRGAN is perceptually closer to HR than SRResNet (LPIPS): {lp['srgan']:.4f} vs "
                     f"{lp['srresnet']:.4f} — {_verdict(lp['srgan'] < lp['srresnet'])}.")
    return lines


def paper_section(records) -> list[str]:
    """The checks as a leaderboard section (no lines when no finding applies)."""
    return section("Ledig et al. 2017", paper_checks(records))


__all__ = ["paper_checks", "paper_section"]
