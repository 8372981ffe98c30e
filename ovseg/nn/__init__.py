"""Building blocks shared by the methods: CLIP loading, text encoders, DINO, contrastive loss."""
