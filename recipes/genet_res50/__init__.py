"""GENet_Res50: ResNet-50 with gather-excite blocks (Hu et al. 2018), as MindSpore ModelZoo research/cv/GENet_Res50."""
