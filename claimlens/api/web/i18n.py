"""Message catalogue for the console: English and Chinese. The language comes from the `lang` cookie (the
switch), else the browser's Accept-Language, else English."""

from __future__ import annotations

from markupsafe import Markup

from ...cases.repair import REASON_TEXT
from ...forensics.errors import REFUSALS

LANGS = ("en", "zh")
LANG_COOKIE = "claimlens_lang"

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "app": "claimlens console",
        "login": "Log in", "logout": "Log out", "username": "Username", "password": "Password",
        "login_failed": "Wrong username or password.",
        "signed_in_as": "Signed in as {name} ({role})",
        "role.buyer": "buyer", "role.merchant": "merchant", "role.reviewer": "reviewer", "role.admin": "admin",
        "role.platform": "platform",
        "nav.queue": "Review queue", "nav.claims": "Open claims", "nav.products": "Products", "nav.orders": "Orders",
        "nav.my": "My claims", "nav.new_claim": "File a claim",
        "queue.title": "Review queue", "queue.empty": "No claims match.", "queue.show_open": "Show all open claims",
        "queue.help": "Sorted by risk (highest first), then by deadline. Keys: j / k move, Enter opens.",
        "filter.verdict": "Verdict", "filter.merchant": "Merchant", "filter.amount_min": "Amount from",
        "filter.amount_max": "to", "filter.age": "Age", "filter.scope": "Show", "filter.apply": "Filter",
        "filter.any": "any", "age.1d": "under 1 day", "age.over1d": "over 1 day", "age.over3d": "over 3 days",
        "scope.review": "waiting for a reviewer", "scope.open": "all open claims", "scope.all": "all claims",
        "col.claim": "Claim", "col.order": "Order", "col.merchant": "Merchant", "col.buyer": "Buyer",
        "col.amount": "Amount", "col.risk": "Risk", "col.verdict": "Verdict", "col.state": "State",
        "col.deadline": "Deadline", "col.filed": "Filed", "col.product": "Product", "col.type": "Type",
        "verdict.likely_forged": "Likely forged", "verdict.suspicious": "Suspicious",
        "verdict.no_evidence_of_forgery": "No evidence of forgery", "verdict.unreadable": "Unreadable",
        "verdict.none": "not analysed yet",
        "state.submitted": "Submitted", "state.analysing": "Analysing", "state.awaiting_merchant": "Waiting for the merchant",
        "state.in_review": "With a reviewer", "state.approved": "Approved", "state.rejected": "Rejected",
        "state.more_evidence_requested": "More evidence requested", "state.appealed": "Appealed", "state.final": "Final",
        "type.refund_only": "Refund only", "type.return_and_refund": "Return and refund", "type.repair": "Repair",
        "severity.critical": "Decisive", "severity.high": "Strong", "severity.medium": "Notable", "severity.low": "Weak",
        "severity.info": "Information",
        "case.title": "Claim {id}", "case.photos": "Photos", "case.claim_photo": "Claim photo",
        "case.reference": "Matched reference", "case.heatmap": "Heatmap", "case.no_reference": "No reference photo matched.",
        "case.no_heatmap": "No edited region found.", "case.overlay": "Heatmap overlay (h)",
        "case.compare": "Claim ↔ reference", "case.compare_help": "Drag the slider: left shows the reference, right the claim.",
        "case.regions": "Edited regions", "case.zoom": "Zoom to region {n}", "case.zoom_reset": "Whole photo",
        "case.relation": "Relation to the reference: {relation} (confidence {confidence})",
        "relation.derived": "made from this photo", "relation.same_item": "same item, another photo",
        "relation.unrelated": "unrelated", "relation.unknown": "unknown",
        "case.findings": "What the analysis found", "case.no_findings": "Nothing notable.",
        "case.reuse": "Reused photos", "case.reuse_none": "This photo was not seen in another claim.",
        "case.reuse_in": "Also submitted with", "case.credit": "Buyer's record",
        "credit.claims": "Claims filed", "credit.refunds": "Refunds (90 days)", "credit.forgeries": "Confirmed forgeries",
        "credit.reused": "Reused photos", "credit.external": "Reported by other platforms",
        "case.packing": "Merchant's packing evidence for this order",
        "case.no_packing": "The merchant has no packing photos or video for this order.",
        "case.timeline": "Timeline", "case.decide": "Decision", "case.send": "Record decision", "case.reason": "Reason",
        "case.reason_placeholder": "Why? The reason is recorded in the audit log and in the report.",
        "case.confirm_forgery": "The photo is forged (goes into the buyer's record)",
        "act.approve": "Approve (a)", "act.reject": "Reject (r)", "act.request_evidence": "Ask for more evidence (m)",
        "act.uphold": "Uphold", "act.overturn": "Overturn",
        "case.decided": "Decision recorded: {state}.", "case.not_decidable": "This claim is not waiting for a decision.",
        "case.shortcuts": "Keyboard shortcuts",
        "keys.j": "next claim in the queue", "keys.k": "previous claim in the queue", "keys.a": "approve",
        "keys.r": "reject", "keys.m": "ask for more evidence", "keys.h": "toggle the heatmap overlay",
        "keys.z": "zoom to the next edited region", "keys.0": "whole photo", "keys.esc": "leave the reason field",
        "keys.enter": "submit the decision (Ctrl+Enter in the reason field)",
        "case.report": "Evidence report", "case.report_html": "HTML", "case.report_pdf": "PDF",
        "case.amount": "Amount", "case.reason_buyer": "Buyer's reason", "case.deadline": "Merchant's deadline",
        "progress.title": "Analysis", "progress.waiting": "Queued for analysis…",
        "progress.running": "Analysing photo {done} of {total}…", "progress.done": "Analysis complete.",
        "merchant.claims": "Open claims", "merchant.none": "No open claims.", "merchant.answer": "Your answer",
        "merchant.accept": "Accept the claim", "merchant.dispute": "Dispute the claim",
        "merchant.evidence": "Evidence (packing photos or video)", "merchant.answered": "Answer recorded.",
        "merchant.deadline_left": "Answer by {deadline}",
        "products.title": "Products and reference photos", "products.new": "New product", "products.sku": "SKU",
        "products.name": "Name", "products.add": "Add product", "products.photos": "Reference photos",
        "products.drop": "Drop photos here or click to choose", "products.upload": "Upload",
        "products.none": "No reference photos yet.", "products.uploaded": "{n} photo(s) added.",
        "orders.title": "Orders and packing evidence", "orders.new": "Packing evidence for an order",
        "orders.ref": "Order number", "orders.files": "Packing photos or video", "orders.add": "Save",
        "orders.none": "No orders yet.", "orders.keyframes": "Video keyframes", "orders.video": "Video",
        "buyer.new": "File a claim", "buyer.order": "Order number", "buyer.product": "Product",
        "buyer.type": "What do you want?", "buyer.amount": "Amount", "buyer.reason": "What happened?",
        "buyer.photos": "Photos or video of the problem", "buyer.submit": "Submit claim",
        "buyer.photos_hint": "JPEG, PNG, WebP or HEIC photos, or a short video; at most {n} files of {mb} MB each.",
        "buyer.mine": "My claims", "buyer.none": "You have not filed any claim.",
        "buyer.filed": "Your claim has been filed.", "buyer.state": "State of your claim",
        "buyer.next.submitted": "We received your claim and will check the photos.",
        "buyer.next.analysing": "We are checking your photos.",
        "buyer.next.awaiting_merchant": "The merchant has until {deadline} to answer.",
        "buyer.next.in_review": "A reviewer is looking at your claim.",
        "buyer.next.approved": "Your claim was approved.", "buyer.next.rejected": "Your claim was rejected.",
        "buyer.next.more_evidence_requested": "Please send more photos.",
        "buyer.next.appealed": "Your appeal is being reviewed.", "buyer.next.final": "The claim is closed.",
        "err.no_photo": "Add at least one photo or video.", "err.too_many": "Too many files: at most {n}.",
        "err.too_big": "{name} is larger than {mb} MB.", "err.type": "{name} is not a photo or video.",
        "err.generic": "Something went wrong: {detail}", "err.required": "Fill in every field.",
        "err.forbidden": "You may not see this page.", "err.not_found": "Not found.",
        "err.title": "Error {status}",
        "lang.switch": "中文", "back": "Back", "none": "—",
        "role.operator": "operator", "role.technician": "technician", "nav.desk": "Repair desk",
        "nav.jobs": "My jobs", "desk.title": "Repair desk",
        "desk.board": "SLA board (on site within {target} minutes)", "desk.board_empty": "No open repair requests.",
        "desk.unassigned": "not assigned", "desk.coverage": "Coverage gaps now",
        "desk.coverage_none": "Every district is covered now.",
        "gap.uncovered": "no technician covers this district",
        "gap.nobody_on_shift": "covered, but nobody is on shift and available now", "desk.new": "Phone request",
        "desk.file": "File and dispatch", "desk.search": "Find a caller's requests", "desk.search_btn": "Search",
        "desk.search_none": "No request from this number.", "desk.redispatch": "Re-dispatch",
        "desk.redispatch_help": "Send an open request to a named technician, or let the desk choose again. The reason goes into the audit log.",
        "desk.auto": "choose automatically", "desk.reason": "Reason", "desk.send": "Re-dispatch",
        "desk.filed": "The request was filed.", "desk.moved": "The request was re-dispatched.",
        "field.customer_name": "Customer name", "field.phone": "Phone", "field.address": "Address",
        "field.district": "District", "field.product": "Product", "field.skill": "Skill needed",
        "field.any_skill": "any", "field.fault": "Fault", "field.priority": "Priority", "priority.normal": "normal",
        "priority.urgent": "urgent", "channel.phone": "phone", "channel.online": "online", "col.request": "Request",
        "col.sla": "SLA", "col.left": "Time left", "col.due": "Target", "col.priority": "Priority",
        "col.district": "District", "col.technician": "Technician", "col.customer": "Customer",
        "sla.breached": "Breached", "sla.at_risk": "At risk", "sla.on_track": "On track", "sla.met": "Met",
        "sla.missed": "Missed", "sla.closed": "Closed", "rstate.new": "Waiting for a technician",
        "rstate.dispatched": "Dispatched", "rstate.accepted": "Accepted", "rstate.on_site": "On site",
        "rstate.resolved": "Resolved", "rstate.cancelled": "Cancelled", "repair.left": "{m} min left",
        "repair.over": "{m} min over", "repair.title": "Repair request {id}", "repair.customer": "Customer",
        "repair.dispatch": "Dispatch decision", "repair.sent_to": "Sent to {name}, on site in about {eta} min.",
        "repair.sent_to_no_eta": "Sent to {name}.", "repair.not_sent": "No technician can take it yet.",
        "repair.explanation": "Why", "repair.channel": "Channel", "repair.created": "Filed",
        "repair.closed": "Closed", "repair.resolution": "Resolution", "jobs.title": "My jobs",
        "jobs.none": "No open jobs.", "jobs.closed": "Finished jobs", "jobs.available": "You are taking new jobs.",
        "jobs.unavailable": "You are not taking new jobs.", "jobs.go_off": "Stop taking jobs",
        "jobs.go_on": "Take jobs again", "jobs.accept_by": "Accept by", "jobs.contact_after_accept": "Name, phone and address are shown once you accept the job.", "job.accept": "Accept",
        "job.decline": "Decline", "job.arrive": "Arrived", "job.resolve": "Resolved",
        "job.decline_reason": "Why decline?", "job.note": "What was done", "jobs.done.accepted": "Job accepted.",
        "jobs.done.on_site": "Arrival recorded.", "jobs.done.resolved": "Job resolved.",
        "jobs.done.declined": "Job declined; it went back to the desk.",
    },
    "zh": {
        "app": "claimlens 控制台",
        "login": "登录", "logout": "退出", "username": "用户名", "password": "密码",
        "login_failed": "用户名或密码错误。",
        "signed_in_as": "已登录：{name}（{role}）",
        "role.buyer": "买家", "role.merchant": "商家", "role.reviewer": "审核员", "role.admin": "管理员",
        "role.platform": "平台",
        "nav.queue": "审核队列", "nav.claims": "待处理申请", "nav.products": "商品", "nav.orders": "订单",
        "nav.my": "我的申请", "nav.new_claim": "提交申请",
        "queue.title": "审核队列", "queue.empty": "没有符合条件的申请。", "queue.show_open": "显示所有未结申请",
        "queue.help": "按风险（高者在前）和截止时间排序。快捷键：j / k 上下移动，回车打开。",
        "filter.verdict": "结论", "filter.merchant": "商家", "filter.amount_min": "金额从",
        "filter.amount_max": "到", "filter.age": "时长", "filter.scope": "显示", "filter.apply": "筛选",
        "filter.any": "全部", "age.1d": "不到 1 天", "age.over1d": "超过 1 天", "age.over3d": "超过 3 天",
        "scope.review": "等待审核", "scope.open": "所有未结申请", "scope.all": "所有申请",
        "col.claim": "申请", "col.order": "订单", "col.merchant": "商家", "col.buyer": "买家",
        "col.amount": "金额", "col.risk": "风险", "col.verdict": "结论", "col.state": "状态",
        "col.deadline": "截止时间", "col.filed": "提交时间", "col.product": "商品", "col.type": "类型",
        "verdict.likely_forged": "很可能伪造", "verdict.suspicious": "可疑",
        "verdict.no_evidence_of_forgery": "未发现伪造痕迹", "verdict.unreadable": "无法读取",
        "verdict.none": "尚未分析",
        "state.submitted": "已提交", "state.analysing": "分析中", "state.awaiting_merchant": "等待商家答复",
        "state.in_review": "人工审核中", "state.approved": "已批准", "state.rejected": "已驳回",
        "state.more_evidence_requested": "需要补充证据", "state.appealed": "申诉中", "state.final": "已结案",
        "type.refund_only": "仅退款", "type.return_and_refund": "退货退款", "type.repair": "维修",
        "severity.critical": "决定性", "severity.high": "强", "severity.medium": "值得注意", "severity.low": "弱",
        "severity.info": "信息",
        "case.title": "申请 {id}", "case.photos": "照片", "case.claim_photo": "申请照片",
        "case.reference": "匹配的参考图", "case.heatmap": "热力图", "case.no_reference": "没有匹配的参考图。",
        "case.no_heatmap": "未发现编辑区域。", "case.overlay": "叠加热力图 (h)",
        "case.compare": "申请图 ↔ 参考图", "case.compare_help": "拖动滑块：左侧为参考图，右侧为申请图。",
        "case.regions": "被编辑的区域", "case.zoom": "放大区域 {n}", "case.zoom_reset": "整张照片",
        "case.relation": "与参考图的关系：{relation}（置信度 {confidence}）",
        "relation.derived": "由此照片修改而来", "relation.same_item": "同一商品的另一张照片",
        "relation.unrelated": "无关", "relation.unknown": "未知",
        "case.findings": "分析发现", "case.no_findings": "没有值得注意的发现。",
        "case.reuse": "重复使用的照片", "case.reuse_none": "此照片未在其他申请中出现。",
        "case.reuse_in": "也出现在", "case.credit": "买家记录",
        "credit.claims": "申请次数", "credit.refunds": "退款（90 天）", "credit.forgeries": "已确认伪造",
        "credit.reused": "重复使用照片", "credit.external": "其他平台报告",
        "case.packing": "商家为此订单提供的打包证据",
        "case.no_packing": "商家没有此订单的打包照片或视频。",
        "case.timeline": "时间线", "case.decide": "裁决", "case.send": "提交裁决", "case.reason": "理由",
        "case.reason_placeholder": "请说明理由。理由会记入审计日志和证据报告。",
        "case.confirm_forgery": "照片系伪造（计入买家记录）",
        "act.approve": "批准 (a)", "act.reject": "驳回 (r)", "act.request_evidence": "要求补充证据 (m)",
        "act.uphold": "维持", "act.overturn": "推翻",
        "case.decided": "裁决已记录：{state}。", "case.not_decidable": "此申请当前无需裁决。",
        "case.shortcuts": "键盘快捷键",
        "keys.j": "队列中的下一个申请", "keys.k": "队列中的上一个申请", "keys.a": "批准",
        "keys.r": "驳回", "keys.m": "要求补充证据", "keys.h": "显示/隐藏热力图",
        "keys.z": "放大到下一个编辑区域", "keys.0": "整张照片", "keys.esc": "离开理由输入框",
        "keys.enter": "提交裁决（在理由框中按 Ctrl+Enter）",
        "case.report": "证据报告", "case.report_html": "HTML", "case.report_pdf": "PDF",
        "case.amount": "金额", "case.reason_buyer": "买家理由", "case.deadline": "商家答复截止",
        "progress.title": "分析", "progress.waiting": "排队等待分析…",
        "progress.running": "正在分析第 {done} / {total} 张照片…", "progress.done": "分析完成。",
        "merchant.claims": "待处理申请", "merchant.none": "没有待处理的申请。", "merchant.answer": "您的答复",
        "merchant.accept": "同意申请", "merchant.dispute": "对申请提出异议",
        "merchant.evidence": "证据（打包照片或视频）", "merchant.answered": "答复已记录。",
        "merchant.deadline_left": "请在 {deadline} 前答复",
        "products.title": "商品与参考图", "products.new": "新商品", "products.sku": "货号",
        "products.name": "名称", "products.add": "添加商品", "products.photos": "参考图",
        "products.drop": "将照片拖到此处，或点击选择", "products.upload": "上传",
        "products.none": "还没有参考图。", "products.uploaded": "已添加 {n} 张照片。",
        "orders.title": "订单与打包证据", "orders.new": "订单的打包证据",
        "orders.ref": "订单号", "orders.files": "打包照片或视频", "orders.add": "保存",
        "orders.none": "还没有订单。", "orders.keyframes": "视频关键帧", "orders.video": "视频",
        "buyer.new": "提交申请", "buyer.order": "订单号", "buyer.product": "商品",
        "buyer.type": "您希望如何处理？", "buyer.amount": "金额", "buyer.reason": "发生了什么？",
        "buyer.photos": "问题的照片或视频", "buyer.submit": "提交申请",
        "buyer.photos_hint": "JPEG、PNG、WebP 或 HEIC 照片，或短视频；最多 {n} 个文件，每个不超过 {mb} MB。",
        "buyer.mine": "我的申请", "buyer.none": "您还没有提交任何申请。",
        "buyer.filed": "您的申请已提交。", "buyer.state": "申请状态",
        "buyer.next.submitted": "我们已收到您的申请，将检查照片。",
        "buyer.next.analysing": "正在检查您的照片。",
        "buyer.next.awaiting_merchant": "商家须在 {deadline} 前答复。",
        "buyer.next.in_review": "审核员正在处理您的申请。",
        "buyer.next.approved": "您的申请已批准。", "buyer.next.rejected": "您的申请已被驳回。",
        "buyer.next.more_evidence_requested": "请补充照片。",
        "buyer.next.appealed": "您的申诉正在审核。", "buyer.next.final": "申请已结案。",
        "err.no_photo": "请至少添加一张照片或一段视频。", "err.too_many": "文件太多：最多 {n} 个。",
        "err.too_big": "{name} 超过 {mb} MB。", "err.type": "{name} 不是照片或视频。",
        "err.generic": "出错了：{detail}", "err.required": "请填写所有字段。",
        "err.forbidden": "您无权查看此页面。", "err.not_found": "未找到。",
        "err.title": "错误 {status}",
        "lang.switch": "English", "back": "返回", "none": "—",
        "role.operator": "接线员", "role.technician": "维修技师", "nav.desk": "维修调度台", "nav.jobs": "我的工单",
        "desk.title": "维修调度台", "desk.board": "SLA 看板（{target} 分钟内到场）", "desk.board_empty": "没有未完成的报修。",
        "desk.unassigned": "未派单", "desk.coverage": "当前覆盖缺口", "desk.coverage_none": "所有区域当前都有人覆盖。",
        "gap.uncovered": "没有技师覆盖此区域", "gap.nobody_on_shift": "有人覆盖，但当前无人在班且可接单", "desk.new": "电话报修",
        "desk.file": "登记并派单", "desk.search": "按来电号码查找", "desk.search_btn": "查找", "desk.search_none": "该号码没有报修记录。",
        "desk.redispatch": "改派", "desk.redispatch_help": "将未完成的报修改派给指定技师，或由系统重新选择。理由会记入审计日志。", "desk.auto": "自动选择",
        "desk.reason": "理由", "desk.send": "改派", "desk.filed": "报修已登记。", "desk.moved": "报修已改派。",
        "field.customer_name": "客户姓名", "field.phone": "电话", "field.address": "地址", "field.district": "区域",
        "field.product": "商品", "field.skill": "所需技能", "field.any_skill": "不限", "field.fault": "故障描述",
        "field.priority": "优先级", "priority.normal": "普通", "priority.urgent": "紧急", "channel.phone": "电话",
        "channel.online": "在线", "col.request": "报修单", "col.sla": "SLA", "col.left": "剩余时间", "col.due": "目标时间",
        "col.priority": "优先级", "col.district": "区域", "col.technician": "技师", "col.customer": "客户",
        "sla.breached": "已超时", "sla.at_risk": "有风险", "sla.on_track": "正常", "sla.met": "已达标", "sla.missed": "未达标",
        "sla.closed": "已关闭", "rstate.new": "等待派单", "rstate.dispatched": "已派单", "rstate.accepted": "已接单",
        "rstate.on_site": "已到场", "rstate.resolved": "已解决", "rstate.cancelled": "已取消", "repair.left": "剩余 {m} 分钟",
        "repair.over": "超时 {m} 分钟", "repair.title": "报修单 {id}", "repair.customer": "客户", "repair.dispatch": "派单决定",
        "repair.sent_to": "已派给 {name}，预计约 {eta} 分钟到场。", "repair.sent_to_no_eta": "已派给 {name}。",
        "repair.not_sent": "暂时没有技师可以接单。", "repair.explanation": "原因", "repair.channel": "渠道",
        "repair.created": "登记时间", "repair.closed": "关闭时间", "repair.resolution": "处理结果", "jobs.title": "我的工单",
        "jobs.none": "没有未完成的工单。", "jobs.closed": "已完成的工单", "jobs.available": "您正在接新工单。",
        "jobs.unavailable": "您已暂停接新工单。", "jobs.go_off": "暂停接单", "jobs.go_on": "恢复接单", "jobs.accept_by": "接单截止", "jobs.contact_after_accept": "接单后显示客户姓名、电话和地址。",
        "job.accept": "接单", "job.decline": "拒绝", "job.arrive": "已到场", "job.resolve": "已解决",
        "job.decline_reason": "拒绝原因", "job.note": "处理说明", "jobs.done.accepted": "已接单。",
        "jobs.done.on_site": "已记录到场。", "jobs.done.resolved": "工单已解决。", "jobs.done.declined": "已拒绝，工单已退回调度台。",
    },
}

# Repair desk: dispatch explanation lines, SLA reasons and coverage-gap details by code (claimlens.cases.repair
# Reason), as "why.<code>". The English comes from the domain, which renders the API's text from the same template.
REASONS_ZH = {
    "soonest": "{name}（#{id}）能最快到场：约 {eta} 分钟（路程 {travel} 分钟，手上 {load} 个未完成工单），"
               "{target} 分钟目标还剩 {left} 分钟",
    "at_risk_soonest": "{name}（#{id}）最快，约 {eta} 分钟，但 {target} 分钟目标只剩 {left} 分钟：有风险",
    "candidate": "{name}（#{id}）：约 {eta} 分钟，手上 {load} 个未完成工单",
    "refused_declined": "{name}（#{id}）：已拒绝此工单或未及时接单",
    "refused_skill": "{name}（#{id}）：不具备技能 {skill}",
    "refused_unavailable": "{name}（#{id}）：已暂停接单",
    "refused_off_shift": "{name}（#{id}）：不在班（{start}-{end} {timezone}）",
    "refused_capacity": "{name}（#{id}）：工单已满（{load}/{max_jobs} 个未完成工单）",
    "coverage_gap": "覆盖缺口：没有技师覆盖区域 {district}",
    "nobody_now": "区域 {district} 当前没有技师可以接单",
    "manual": "{by} 手动派单给 {name}（#{id}）：{reason}",
    "warning_district": "注意：{name} 不覆盖区域 {district}",
    "warning_skill": "注意：{name} 不具备技能 {skill}",
    "warning_unavailable": "注意：{name} 已暂停接单",
    "warning_off_shift": "注意：{name} 不在班（{start}-{end} {timezone}）",
    "warning_capacity": "注意：{name} 工单已满（{load}/{max_jobs}）",
    "met": "比目标时间提前 {minutes} 分钟到场",
    "missed": "比目标时间晚 {minutes} 分钟到场",
    "cancelled": "已取消",
    "resolved": "已解决",
    "breached": "已超出 {target} 分钟目标 {minutes} 分钟",
    "no_technician": "尚无技师接单，剩余 {minutes} 分钟",
    "late_eta": "技师预计比目标时间晚 {minutes} 分钟到场",
    "left": "剩余 {minutes} 分钟",
    "gap_uncovered": "没有技师覆盖此区域",
    "gap_nobody_on_shift": "{count} 名技师覆盖此区域，但当前无人在班且可接单",
}
MESSAGES["en"].update({f"why.{code}": text for code, text in REASON_TEXT.items()})
MESSAGES["zh"].update({f"why.{code}": text for code, text in REASONS_ZH.items()})

# Refused files and images, by the error's code (claimlens.forensics.errors.REFUSALS, whose English text the
# error carries after the file's name).
ERRORS_ZH = {
    "empty_file": "{name} 是空文件。",
    "not_an_image": "{name} 不是图片，或图片格式不受支持。",
    "unsupported_image": "{name}：不支持的图片格式 {type}。",
    "no_pixels": "{name}：图片没有像素。",
    "too_many_pixels": "{name}：{size} = {mp} 百万像素，超过 {limit} 百万像素的上限。",
    "decompression_bomb": "{name}：图片解压后过大（解压炸弹），已拒绝（{detail}）。",
    "corrupt_image": "{name}：图片被截断或已损坏（{detail}）。",
    "undecodable_image": "{name}：无法解码图片（{detail}）。",
    "not_a_photo": "{name} 不是照片（JPEG、PNG、WebP、HEIC 等）。",
    "unreadable": "{name} 既不是可读取的照片，也不是可读取的视频。",
    "video_too_long": "{name}：视频时长 {seconds} 秒，上限为 {limit} 秒。",
    "video_too_many_pixels": "{name}：视频画面超过像素上限。",
}
MESSAGES["en"].update({f"error.{code}": "{name}: " + text for code, text in REFUSALS.items()})
MESSAGES["zh"].update({f"error.{code}": text for code, text in ERRORS_ZH.items()})

# Plain-words versions of the forensic findings, by code (the English message of the finding is the fallback).
FINDINGS_ZH = {
    "derived_with_edits": "申请照片是商家的商品图（{reference}）被修改后的版本：{n} 处被编辑的区域，占商品的 {pct}%。",
    "derived_unedited": "申请照片就是商家的商品图（{reference}），未经局部修改：买家并未拍摄自己收到的商品。",
    "same_item": "申请照片与参考图是同一商品，但是独立拍摄的。",
    "no_matching_reference": "申请照片与任何参考图都不匹配。",
    "reused_photo": "完全相同的照片已在其他申请中提交过。",
    "near_duplicate_photo": "几乎相同的照片已在其他申请中提交过。",
    "photo_in_credit_record": "此照片与其他平台已确认伪造或重复使用的照片一致。",
    "exif_no_camera": "照片没有相机型号信息。许多聊天和购物应用会删除这些数据，因此这本身不能说明问题。",
    "jpeg_quality": "JPEG 压缩质量约为 {quality}。",
    "double_jpeg": "照片至少经过两次 JPEG 压缩。",
}


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGS:
        return cookie
    best, best_q = "en", -1.0
    for i, part in enumerate((accept_language or "").split(",")):
        bits = part.strip().split(";")
        tag = bits[0].strip().lower()
        q = 1.0
        for b in bits[1:]:
            if b.strip().startswith("q="):
                try:
                    q = float(b.strip()[2:])
                except ValueError:
                    q = 0.0
        code = tag.split("-")[0]
        if code in LANGS and q > best_q:
            best, best_q = code, q - i * 1e-6  # earlier wins a tie
    return best


class Translator:
    def __init__(self, lang: str):
        self.lang = lang if lang in LANGS else "en"
        self.messages = MESSAGES[self.lang]

    def __call__(self, key: str, **kw) -> str:
        """The message for key; arguments are escaped unless they are Markup (a <time> element, say)."""
        msg = Markup(self.messages.get(key) or MESSAGES["en"].get(key) or key)
        return msg.format(**kw) if kw else msg

    def reason(self, coded: dict | None, english: str = "") -> str:
        """A repair reason ({"code", "params"}) in the viewer's language; the English text when it has no code
        (stored before the codes existed) or its parameters do not fit."""
        if isinstance(coded, dict) and coded.get("code"):
            key = f"why.{coded['code']}"
            msg = self.messages.get(key) or MESSAGES["en"].get(key)
            if msg:
                try:
                    return Markup(msg).format(**(coded.get("params") or {}))
                except (KeyError, IndexError, ValueError):
                    pass
        return english

    def explanation(self, note: dict | None) -> list[str]:
        """A dispatch note's explanation lines in the viewer's language. Notes stored before the codes carry only
        the English lines, which are shown as they are."""
        lines = list((note or {}).get("explanation") or [])
        codes = (note or {}).get("explanation_codes") or []
        if len(codes) != len(lines):
            return lines
        return [self.reason(c, line) for c, line in zip(codes, lines)]

    def error(self, exc: Exception) -> str:
        """A refusal (a domain or input error) in the viewer's language: its code's text with its parameters, or
        its English message when it has no code or no text in that language."""
        english = getattr(exc, "message", None) or str(exc)
        code = getattr(exc, "code", None)
        msg = self.messages.get(f"error.{code}") if code else None
        if msg:
            try:
                return Markup(msg).format(**(getattr(exc, "params", None) or {}))
            except (KeyError, IndexError, ValueError):
                pass
        return english

    def finding(self, f: dict) -> str:
        """A finding in the viewer's language."""
        if self.lang == "zh" and f.get("code") in FINDINGS_ZH:
            details = dict(f.get("details") or {})
            details.setdefault("reference", "")
            details.setdefault("n", len(details.get("regions") or []))
            details.setdefault("pct", f"{100 * float(details.get('edited_fraction') or 0):.1f}")
            try:
                return Markup(FINDINGS_ZH[f["code"]]).format(**details)
            except (KeyError, IndexError, ValueError):
                pass
        return f.get("message", "")
