"""AHL (CVPR 2024) on the frozen trunk of a trained DRA or DevNet run: the method and its variants
(`method`), the unified model's heads (`heads`), the feature bank and episodes (`bank`) and the
episode-importance model (`psi`)."""
