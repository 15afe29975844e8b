import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fairskin.data import MANIFEST_COLUMNS, detect_format, read_dataset
from fairskin.errors import InputError


def _img(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), (200, 150, 120), np.uint8)).save(path)


def test_demo_data_reads_as_ddi(demo_data):
    df = read_dataset(demo_data)
    assert df.attrs["format"] == "ddi"
    assert list(df.columns[: len(MANIFEST_COLUMNS)]) == list(MANIFEST_COLUMNS)
    assert (df["status"] == "ok").all()
    assert set(df["fst_group_human"].dropna()) <= {"I-II", "III-IV", "V-VI"}
    assert df["fst_human"].isna().all()  # DDI gives groups only
    truth = df["fst_true"].astype(int)
    assert (df["fst_group_human"] == truth.map({1: "I-II", 2: "I-II", 3: "III-IV", 4: "III-IV", 5: "V-VI", 6: "V-VI"})).all()


def test_pad_ufes_sample(pad_sample):
    df = read_dataset(pad_sample)
    assert df.attrs["format"] == "pad-ufes-20" and len(df) == 61
    assert (df["status"] == "ok").all()
    assert df["fst_human"].notna().sum() == 46
    assert set(df["diagnosis"]) <= {"ACK", "BCC", "MEL", "NEV", "SCC", "SEK"}
    assert df.loc[df["diagnosis"] == "MEL", "malignant"].all()
    assert not df.loc[df["diagnosis"] == "NEV", "malignant"].any()


def test_fitzpatrick17k(tmp_path):
    (tmp_path / "fitzpatrick17k.csv").write_text(
        "md5hash,fitzpatrick_scale,fitzpatrick_centaur,label,nine_partition_label,three_partition_label,qc,url\n"
        "aaa,3,3,psoriasis,inflammatory,non-neoplastic,,\n"
        "bbb,-1,2,melanoma,malignant melanoma,malignant,,\n"
        "ccc,7,2,melanoma,malignant melanoma,malignant,,\n"
        "ddd,2,2,nevus,benign,benign,,\n")
    for n in ("aaa", "bbb", "ccc"):
        _img(tmp_path / "images" / f"{n}.jpg")
    df = read_dataset(tmp_path)
    assert df.attrs["format"] == "fitzpatrick17k"
    assert df["fst_human"].iloc[0] == 3 and df["fst_human"].iloc[1:3].isna().all() and df["fst_human"].iloc[3] == 2
    assert pd.isna(df["fst_human"].iloc[1]) and df["reason"].iloc[1] == ""  # -1 = unknown, no warning
    assert df["reason"].iloc[2] == "fitzpatrick_scale='7' is not a Fitzpatrick type 1-6; human label ignored"
    assert df["status"].tolist() == ["ok", "ok", "ok", "missing"]
    assert df["malignant"].tolist()[:2] == [False, True]


def test_ham10000_and_isic(tmp_path):
    ham = tmp_path / "ham"
    (ham).mkdir()
    (ham / "HAM10000_metadata.csv").write_text(
        "lesion_id,image_id,dx,dx_type,age,sex,localization\nHAM_1,ISIC_1,mel,histo,50,male,back\nHAM_1,ISIC_2,nv,histo,50,male,back\n")
    _img(ham / "HAM10000_images_part_1" / "ISIC_1.jpg")
    _img(ham / "HAM10000_images_part_2" / "ISIC_2.jpg")
    df = read_dataset(ham)
    assert df.attrs["format"] == "ham10000"
    assert df["image"].tolist() == ["HAM10000_images_part_1/ISIC_1.jpg", "HAM10000_images_part_2/ISIC_2.jpg"]
    assert df["malignant"].tolist() == [True, False] and df["lesion_id"].tolist() == ["HAM_1", "HAM_1"]
    isic = tmp_path / "isic"
    isic.mkdir()
    (isic / "train.csv").write_text("image_name,patient_id,diagnosis,benign_malignant,target\nISIC_9,P1,melanoma,malignant,1\n")
    _img(isic / "train" / "ISIC_9.jpg")
    df = read_dataset(isic)
    assert df.attrs["format"] == "isic" and df["malignant"].tolist() == [True] and df["patient_id"].tolist() == ["P1"]


def test_folder_with_and_without_metadata(tmp_path):
    _img(tmp_path / "a.png")
    _img(tmp_path / "sub" / "b.png")
    df = read_dataset(tmp_path)
    assert df.attrs["format"] == "folder" and sorted(df["image"]) == ["a.png", "sub/b.png"]
    (tmp_path / "metadata.csv").write_text("file_name,label,fst\na.png,nevus,2\nsub/b.png,melanoma,V\ngone.png,x,9\n")
    df = read_dataset(tmp_path)
    assert df["fst_human"].tolist()[:2] == [2, 5]
    assert df["status"].tolist() == ["ok", "ok", "missing"]
    assert detect_format(tmp_path) == "folder"


def test_missing_columns_named(tmp_path):
    (tmp_path / "ddi_metadata.csv").write_text("DDI_file,skin_tone,disease\nx.png,12,nevus\n")
    with pytest.raises(InputError) as ei:
        read_dataset(tmp_path, format="ddi")
    assert str(ei.value) == (f"{tmp_path / 'ddi_metadata.csv'}: not a DDI metadata file: missing column(s) ['malignant']; "
                             "expected ['DDI_file', 'skin_tone', 'malignant', 'disease'], "
                             "found ['DDI_file', 'skin_tone', 'disease']")


def test_bad_rows_are_kept_with_reasons(tmp_path):
    (tmp_path / "ddi_metadata.csv").write_bytes(
        "DDI_ID,DDI_file,skin_tone,malignant,disease\n1,a.png,12,True,nevus\n2,b.png,78,maybe,nevus\n"
        "3,c.png,56,False,caf\xe9-au-lait\n1,a.png,12,True,nevus\n".encode("cp1252"))
    for n in ("a", "b"):
        _img(tmp_path / "images" / f"{n}.png")
    df = read_dataset(tmp_path)
    assert df["status"].tolist() == ["ok", "ok", "missing", "duplicate"]
    assert df["reason"].iloc[1] == ("malignant='maybe' is not True/False; treated as unknown; "
                                    "skin_tone='78' is not 12, 34 or 56; human label ignored")
    assert df["diagnosis"].iloc[2] == "café-au-lait"
    assert df.attrs["warnings"] == ["ddi_metadata.csv: 1 line(s) are not UTF-8 (lines 4); read as Windows-1252"]


def test_unknown_format_suggests(tmp_path):
    with pytest.raises(InputError, match=r"unknown format 'pad-ufes'.*Did you mean 'pad-ufes-20'\?"):
        read_dataset(tmp_path, format="pad-ufes")


def test_missing_directory():
    with pytest.raises(InputError, match="DATA: directory not found: /no/such/dir"):
        read_dataset("/no/such/dir")
