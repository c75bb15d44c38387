"""Enhance low-light images (and videos) with GLADNet.

    python test.py --input sample_images --output_dir enhanced
    python test.py --input photos/ --recursive --output_dir out --format same --weights FILE
    python test.py --input clip.mov --output_dir out --video_smoothing 0.8

PATH may be one file or a folder (PNG, JPEG, BMP, TIFF, WebP; videos: MP4, MOV, AVI, MKV,
WebM, which need requirements-video.txt). Outputs keep relative paths and names; PNG by
default, MP4 for videos. A file that cannot be processed is reported on one line and the run
goes on; the exit code is 1 if any file failed.
"""

from gladnet_tf.commands.enhance import run  # noqa: E402  (defines the flags)

if __name__ == "__main__":
    run()
